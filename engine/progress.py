"""Progress on stderr (a bar on a terminal, quiet otherwise) and stopping on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from typing import Callable

from .errors import StopRequested


class Reporter:
    """The progress callback handed to generators.

    After `request_stop()` the next call raises StopRequested, so a generator stops at a
    step boundary with its state intact. `on_preview` receives preview images.
    """

    def __init__(self, stream=None, on_preview: Callable | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.on_preview = on_preview
        self.stop_requested = False
        self.label = ""
        self._last_draw = 0.0

    def __call__(self, step: int, total: int, preview=None) -> None:
        if preview is not None and self.on_preview is not None:
            self.on_preview(step, preview)
        if self.live and (time.monotonic() - self._last_draw > 0.1 or step >= total):
            self._last_draw = time.monotonic()
            width = 30
            done = int(width * step / max(total, 1))
            self.stream.write(f"\r{self.label} [{'#' * done}{'.' * (width - done)}] {step}/{total}")
            self.stream.flush()
        if self.stop_requested:
            raise StopRequested()

    def start(self, label: str) -> None:
        self.label = label

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def note(self, message: str) -> None:
        self.finish()
        self.stream.write(message + "\n")
        self.stream.flush()

    def request_stop(self) -> None:
        self.stop_requested = True


@contextlib.contextmanager
def stop_on_signals(reporter: Reporter):
    """First Ctrl-C or SIGTERM asks the generator to stop; a second Ctrl-C aborts at once."""

    def handle(signum, frame):
        if reporter.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        reporter.request_stop()
        reporter.note("artengine: stopping after this step and saving what exists (Ctrl-C again to abort)")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield reporter
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
