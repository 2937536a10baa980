"""``python -m archcmp`` runs the CLI."""

from archcmp.cli import main

main()
