"""The command line this process runs, as the user typed it, for the records that say how
something was made (run.json, a trained model's config).

The CLI notes its arguments when it starts, which is what a caller that runs it in-process
(tests, a script calling `main(args)`) passed, not the host program's `sys.argv`.
"""

from __future__ import annotations

import sys

_args: list[str] | None = None


def note_arguments(args: list[str] | None) -> None:
    global _args
    _args = None if args is None else [str(arg) for arg in args]


def command_line() -> list[str]:
    """`artengine` and its arguments."""
    return ["artengine", *(sys.argv[1:] if _args is None else _args)]
