"""``python -m hilctl`` runs the command line."""

from .cli import main

main()
