"""hilctl: hardware-in-the-loop programming of memristor crossbar arrays.

The application layer: configuration, run store, predictor, weights, inference and the CLI.
"""

__version__ = "0.1.0"
