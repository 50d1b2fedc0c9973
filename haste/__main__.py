"""``python -m haste`` runs the CLI."""

from haste.cli import main

main()
