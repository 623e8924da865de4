"""``python -m hilctl`` runs the command line."""

from hilctl.cli import main

main()
