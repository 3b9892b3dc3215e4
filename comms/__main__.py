"""`python -m comms` runs the CLI."""

from comms.cli import main

main()
