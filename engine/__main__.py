"""`python -m engine` runs the artengine CLI."""

from .cli import main

main()
