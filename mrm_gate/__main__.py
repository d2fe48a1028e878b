"""`python -m mrm_gate` runs the CLI."""

from .cli import main

main()
