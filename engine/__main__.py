"""`python -m artengine` runs the artengine CLI, as the `artengine` command does."""

from .cli import main

main()
