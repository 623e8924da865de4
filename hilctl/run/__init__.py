"""A run's lifecycle: the runner, its SQLite store, comparisons of protocols, and the
predictor trained on a sibling array."""
