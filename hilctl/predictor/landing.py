"""The chance that a pulse lands in a band, from the predictor's outcome quantiles, and the
choice among settings that this chance ranks."""

from __future__ import annotations

import numpy as np

from hilctl.protocols.objective import TIE_SLACK

from .quantiles import QUANTILES

IN_BAND_SLACK = TIE_SLACK


def most_likely_in_band(p: np.ndarray, miss: np.ndarray, axis: int,
                        slack: float = IN_BAND_SLACK) -> np.ndarray:
    """Index along ``axis`` of the choice to plan: among those whose predicted chance ``p`` of
    landing in band is within ``slack`` of the best, the one whose median misses the target
    (band centre) least (``miss``). The predicted tails are coarse (five quantiles), so chances
    that close are a tie, and aiming the centre keeps the margin to both edges."""
    near = p >= p.max(axis=axis, keepdims=True) - slack
    return np.argmin(np.where(near, miss, np.inf), axis=axis)


def in_band_probability(quantiles: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """P(low <= G <= high) from predicted quantiles (n, 5), with a piecewise-linear CDF whose
    tails reach 0 and 1 about one quantile gap beyond the outer quantiles."""
    q = np.log(quantiles)
    tiny = 1e-300  # a band reaching down to 0 S or below
    return (in_band_log_cdf(q, np.log(np.maximum(high, tiny)))
            - in_band_log_cdf(q, np.log(np.maximum(low, tiny))))


def in_band_log_cdf(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(ln G <= x) from predicted ln-G quantiles ``q`` (..., 5), piecewise linear between
    them; ``x`` broadcasts against ``q[..., 0]``."""
    points = np.concatenate([q[..., :1] - 1.6 * (q[..., 1:2] - q[..., :1]), q,
                             q[..., -1:] + 1.6 * (q[..., -1:] - q[..., -2:-1])], axis=-1)
    probs = np.array([0.0, *QUANTILES, 1.0])
    shape = np.broadcast_shapes(np.shape(x), points.shape[:-1])
    points, x = np.broadcast_to(points, (*shape, probs.size)), np.broadcast_to(x, shape)
    out = np.where(x >= points[..., -1], 1.0, 0.0)
    for k in range(points.shape[-1] - 1):
        left, right = points[..., k], points[..., k + 1]
        inside = (x >= left) & (x < right)
        frac = (x - left) / np.maximum(right - left, 1e-12)
        out = np.where(inside, probs[k] + frac * (probs[k + 1] - probs[k]), out)
    return out
