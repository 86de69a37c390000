"""`python -m airloop.cli`: the same entry point as the `airloop` command."""

from airloop.cli import main

main()
