"""The neural pulse predictor: the knob strategies it plans (width, amplitude, gate), the forward
quantile model, its training, its inverse, the planner that adapts it per device, the lookup
planner it is measured against and the evaluation that reports both."""
