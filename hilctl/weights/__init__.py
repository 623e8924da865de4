"""Network weights on the array: voltage and current modes, networks, the layout onto device
pairs, the weights job, inference with measured conductances, model files and datasets."""
