"""``python -m trueclass``: the command line (what ``torchrun -m trueclass train`` runs)."""

from .cli import main

main()
