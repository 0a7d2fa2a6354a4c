"""`python -m textfit` (and `torchrun -m textfit`): the `textfit` command."""

from .cli import main

main()
