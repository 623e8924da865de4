"""The quantile levels every predictor is trained on, shared by the model and its inverse."""

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
MEDIAN = 2


class PredictorRangeWarning(UserWarning):
    """A present or target conductance lies outside the range the predictor was trained on."""
