"""Errors a user can act on. The CLI prints their message as one line, no traceback."""


class ArtengineError(Exception):
    """Something went wrong that the user can fix; `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(ArtengineError):
    """The request itself is wrong: unknown name, bad value, bad syntax, missing file."""

    exit_code = 2


class PluginError(ArtengineError):
    """A plugin could not be loaded or registered."""


class StopRequested(Exception):
    """Raised by the progress callback once the user has asked to stop (Ctrl-C, SIGTERM).

    Generators that can hand back partial work catch it and return their candidates
    with ``metadata["interrupted"] = True``; the others just let it propagate. The job
    that called them then saves what exists and raises `Interrupted`.
    """


class Interrupted(ArtengineError):
    """The user asked to stop (Ctrl-C, SIGTERM) and what was done is saved: images of a
    `generate`, a training checkpoint, an index's chunks. The message says where, and how to
    go on; the CLI exits with 130, as a shell does for Ctrl-C."""

    exit_code = 130


def closest(name: str, choices) -> str:
    """' (did you mean 'x'?)' for the nearest of `choices`, or '' when none is near."""
    import difflib

    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def warn(message: str) -> None:
    """Tell the user something they should know that does not stop the run (e.g. a prompt cut to
    fit a model): one line on stderr, 'artengine: warning: ...' (control characters escaped on a
    terminal: a file name may hold any)."""
    import sys

    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    print(f"artengine: warning: {printable(message) if terminal else message}", file=sys.stderr, flush=True)


_CONTROLS = None


def printable(text: str) -> str:
    """`text` with control characters (C0 but newline and tab, DEL, C1) as \\xNN escapes, for a
    terminal: an escape sequence in a file name or PNG metadata must not reach it raw."""
    import re

    global _CONTROLS
    if _CONTROLS is None:
        _CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def quote(value, limit: int = 60) -> str:
    """`value` as an error message quotes it: repr(), shortened to about `limit` characters
    (head … tail, with the full length) so that a huge input cannot flood the one-line message."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        if len(repr(value)) <= limit:
            return repr(value)
        half = limit // 2
        while half > 1 and len(repr(value[:half])) + len(repr(value[-half:])) > limit + 4:
            half //= 2  # escapes (\x1f, \U0002ebe1) make a character's repr up to 10 long
        return f"{value[:half]!r}…{value[-half:]!r} ({len(value):,} characters)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}…{text[-(limit // 2):]} ({len(text):,} characters)"


_CTRL_C = {"seen": False}


def watch_ctrl_c() -> None:
    """Note each Ctrl-C before raising KeyboardInterrupt as Python does, so that a plugin raising
    KeyboardInterrupt itself can be told from the user (the CLI calls this as a command starts)."""
    import signal
    import threading

    def handler(signum, frame):
        _CTRL_C["seen"] = True
        raise KeyboardInterrupt

    _CTRL_C["seen"] = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)


def ctrl_c_seen() -> bool:
    """Whether the user has pressed Ctrl-C since `watch_ctrl_c`."""
    return _CTRL_C["seen"]
