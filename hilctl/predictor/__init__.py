"""The neural pulse predictor: the forward quantile model, its training, its inverse and the
planner that adapts it per device."""
