"""Progress on stderr, stopping on Ctrl-C/SIGTERM, and a command's `--json` result on stdout.

On a terminal, `rich` draws one line that fits the terminal's width: a spinner, the label,
a bar, the percent, steps done, the rate, the time elapsed and the time left; a spinner and
a message while nothing has been counted yet (models loading). On a pipe nothing is drawn,
unless ARTENGINE_PROGRESS=always asks for a plain line every tenth of the way (or a job that
logs, like training, asks for a line every `every` steps); ARTENGINE_PROGRESS=never turns the
bar off on a terminal too. Generators and trainers report through the same callback:
`progress(step, total, preview=None, figures=None)`, figures (e.g. the loss) shown beside the label. rich is imported only once a
bar is drawn, so commands that draw none stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import time
from typing import Callable, Iterator, Mapping

import click

from .errors import StopRequested

MODE_VARIABLE = "ARTENGINE_PROGRESS"
MODES = ("auto", "always", "never")


def progress_mode(stream, logging: bool = False) -> str:
    """'bar' (a terminal), 'lines' (a pipe, when asked or `logging`) or 'off'."""
    mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        mode = "auto"  # a typo must not stop a run; the documented values are MODES
    terminal = hasattr(stream, "isatty") and stream.isatty()
    if mode == "never":
        return "off"
    return "bar" if terminal else "lines" if mode == "always" or logging else "off"


class Reporter:
    """The progress callback of generators, trainers and long commands:
    `progress(step, total, preview=None, figures=None)`.

    After `request_stop()` the next call raises StopRequested, so a job stops at a step
    boundary with its state intact. `on_preview` receives preview images; `figures` (a few
    named numbers, e.g. {"loss": 0.12}) are shown beside the label. With `every`, a pipe gets a
    line every `every` steps without being asked (for logs of long jobs).
    """

    def __init__(self, stream=None, on_preview: Callable | None = None, every: int = 0):
        self.stream = stream or sys.stderr
        self.mode = progress_mode(self.stream, logging=bool(every))
        self.live = self.mode == "bar"
        self.on_preview = on_preview
        self.every = every
        self.stop_requested = False
        self.label = ""
        self._display: _Bar | _Lines | None = None

    def __call__(self, step: int, total: int, preview=None, figures: Mapping[str, float] | None = None) -> None:
        if preview is not None and self.on_preview is not None:
            self.on_preview(step, preview)
        if self.mode != "off":
            if self._display is None:
                self.start(self.label)
            self._display.update(step, total, _figures_text(figures))
        if self.stop_requested:
            raise StopRequested()

    def start(self, label: str) -> None:
        """A new bar for `label`; until the first step it shows a spinner (models loading)."""
        self.finish()
        self.label = label
        if self.mode == "bar":
            self._display = _Bar(self.stream, label or "working", waiting="loading")
        elif self.mode == "lines":
            self._display = _Lines(self.stream, label or "progress", self.every)

    def finish(self) -> None:
        if self._display is not None:
            self._display.close()
            self._display = None

    def note(self, message: str) -> None:
        """A line of text above the bar (or on its own where there is none)."""
        if isinstance(self._display, _Bar):
            self._display.print(message)
            return
        self.stream.write(message + "\n")
        self.stream.flush()

    @contextlib.contextmanager
    def busy(self, message: str) -> Iterator[None]:
        """A spinner with `message` while work that counts no steps runs (checking, loading)."""
        if self.mode != "bar" or self._display is not None:
            yield
            return
        self._display = _Bar(self.stream, message)
        try:
            yield
        finally:
            self.finish()

    def request_stop(self) -> None:
        self.stop_requested = True


class _Bar:
    """One rich progress line, redrawn in place; it leaves nothing behind when closed."""

    def __init__(self, stream, label: str, waiting: str = ""):
        """With `waiting`, a bar whose label says what it waits for until the first step;
        without, only a spinner, the label and the time elapsed (for `Reporter.busy`)."""
        from rich.console import Console

        self.progress = _fitting_progress()(
            counting=bool(waiting),
            console=Console(file=stream, stderr=stream is sys.stderr), transient=True,
            refresh_per_second=8, redirect_stdout=False, redirect_stderr=False,
        )
        self.label, self.counting = label, False
        self.task = self.progress.add_task(f"{label} ({waiting})" if waiting else label, total=None)
        self.progress.start()
        atexit.register(self.close)  # whatever ends the program, the terminal gets its cursor back

    def update(self, step: int, total: int, figures: str = "") -> None:
        description = f"{self.label}  {figures}" if figures else self.label
        if not self.counting:  # rate and time left count from the first step, not from loading
            self.counting = True
            self.progress.reset(self.task, total=total, completed=step, description=description)
            return
        self.progress.update(self.task, completed=step, total=total, description=description)

    def print(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        atexit.unregister(self.close)
        self.progress.stop()


def _fitting_progress():
    """rich's Progress, showing on one line only the columns that fit the terminal's width
    (read at every redraw, so a resize is followed), the most useful first: the label, the
    percent, the time left, the bar, the rate, steps done, the time elapsed."""
    from rich.cells import cell_len
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn
    from rich.progress import TaskProgressColumn, TextColumn
    from rich.table import Column
    from rich.text import Text

    def cut(**settings) -> Column:
        # never wrap: a cell too wide is cut short, so the bar stays one line
        return Column(no_wrap=True, overflow="ellipsis", **settings)

    class Figure(ProgressColumn):
        def __init__(self, text, style: str):
            super().__init__(table_column=cut())
            self.text, self.style = text, style

        def render(self, task) -> Text:
            return Text(self.text(task), style=self.style)

    class FittingProgress(Progress):
        def __init__(self, counting: bool, **settings):
            spinner = SpinnerColumn(table_column=cut())
            label = TextColumn("{task.description}", table_column=cut())
            bar = BarColumn(bar_width=None, table_column=cut(ratio=1, min_width=MIN_BAR))
            percent, done = TaskProgressColumn(table_column=cut()), MofNCompleteColumn(table_column=cut())
            rate = Figure(lambda task: _rate(task.finished_speed or task.speed), "progress.data.speed")
            elapsed = Figure(lambda task: f"elapsed {_clock(task.finished_time or task.elapsed or 0)}", "progress.elapsed")
            left = Figure(lambda task: f"eta {_clock(task.time_remaining) if task.time_remaining is not None else '-:--'}",
                          "progress.remaining")
            shown = (spinner, label, bar, percent, done, rate, elapsed, left) if counting else (spinner, label, elapsed)
            super().__init__(*shown, expand=counting, **settings)
            self.shown, self.label = shown, label
            self.priority = [c for c in (spinner, label, percent, left, bar, rate, done, elapsed) if c in shown]
            self.least = {label: MIN_LABEL, bar: MIN_BAR}

        def make_tasks_table(self, tasks):
            if not hasattr(self, "live"):  # rich renders once while it is being set up
                return super().make_tasks_table(tasks)
            room, kept = self.console.width, set()
            # the label keeps its length, up to a third of the line, before the figures are placed
            self.least[self.label] = min(self.natural(self.label, tasks), max(MIN_LABEL, room // 3))
            for column in self.priority:
                width = self.least.get(column) or self.natural(column, tasks)
                if width + (1 if kept else 0) <= room:
                    room -= width + (1 if kept else 0)
                    kept.add(column)
            # the label gets the room left, up to its own length; the bar, if any, the rest
            least = self.least[self.label]
            self.label.get_table_column().width = least + min(room, self.natural(self.label, tasks) - least)
            self.columns = tuple(c for c in self.shown if c in kept)
            return super().make_tasks_table(tasks)

        @staticmethod
        def natural(column, tasks) -> int:
            return max([cell_len(column.render(task).plain) for task in tasks if task.visible] + [1])

    return FittingProgress


MIN_LABEL, MIN_BAR = 8, 5


class _Lines:
    """On a pipe, when asked: a plain line at every tenth of the way (or every `every` steps),
    for logs."""

    def __init__(self, stream, label: str, every: int = 0):
        self.stream, self.label, self.every = stream, label, every
        self.first: tuple[int, float] | None = None  # (step, time) of the first call: rates count from it
        self.written = -1

    def update(self, step: int, total: int, figures: str = "") -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (step, now)
        mark = step // self.every if self.every else 10 * step // max(total, 1)
        if mark == self.written and step < total:
            return
        self.written = mark
        done, elapsed = step - self.first[0], now - self.first[1]
        rate = done / elapsed if done and elapsed > 0 else 0.0
        left = _clock(max(total - step, 0) / rate) if rate else "-:--:--"
        figures = f" {figures}  " if figures else ""  # set apart by two spaces, like the figures themselves
        self.stream.write(f"{self.label}: {step}/{total} {100 * step // max(total, 1)}% {figures}"
                          f"{_rate(rate)} elapsed {_clock(elapsed)} eta {left}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def _figures_text(figures: Mapping[str, float] | None) -> str:
    return "  ".join(f"{key} {value:.4g}" for key, value in (figures or {}).items())


def _rate(speed: float | None) -> str:
    return "-- step/s" if not speed else f"{speed:.1f} step/s" if speed >= 1 else f"{1 / speed:.1f} s/step"


def _clock(seconds: float) -> str:
    """M:SS, or H:MM:SS from an hour on."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@contextlib.contextmanager
def stop_on_signals(reporter: Reporter):
    """First Ctrl-C or SIGTERM asks the generator to stop; a second Ctrl-C aborts at once."""

    def handle(signum, frame):
        if reporter.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        reporter.request_stop()
        if os.environ.get("RANK", "0") == "0":  # Ctrl-C reaches every process a launcher started: one says so
            reporter.note("artengine: stopping after this step and saving what exists (Ctrl-C again to abort)")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield reporter
    finally:
        reporter.finish()  # an error or a second Ctrl-C must not leave a bar (and a hidden cursor)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def emit_json(data) -> None:
    """Print a command's `--json` result on stdout, as every artengine command does."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
