"""The command line this process runs, as the user typed it, for the records that say how
something was made (run.json, a trained model's config).

The CLI notes its arguments when it starts, which is what a caller that runs it in-process
(tests, a script calling `main(args)`) passed, not the host program's `sys.argv`. A job that
is not this process's command (one the web UI runs for a browser) records its own instead
(`recording`), so that a server's flags (a password among them) never reach its runs.
"""

from __future__ import annotations

import contextlib
import sys
from contextvars import ContextVar

_args: list[str] | None = None
_recorded: ContextVar[list[str] | None] = ContextVar("artengine_recorded_command", default=None)


def note_arguments(args: list[str] | None) -> None:
    global _args
    _args = None if args is None else [str(arg) for arg in args]


def command_line() -> list[str]:
    """`artengine` and its arguments (or the command `recording` gives, in its block)."""
    recorded = _recorded.get()
    if recorded is not None:
        return list(recorded)
    return ["artengine", *(sys.argv[1:] if _args is None else _args)]


@contextlib.contextmanager
def recording(command: list[str] | None):
    """Within the block (in this thread), `command_line()` is `command`; None changes nothing."""
    token = _recorded.set(None if command is None else [str(part) for part in command])
    try:
        yield
    finally:
        _recorded.reset(token)
