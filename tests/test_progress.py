"""The progress bar: one line that fits the terminal, redrawn in place; nothing on a pipe unless asked."""

import io
import re

import pytest
from rich.cells import cell_len

from artengine.progress import Reporter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def frames(output: str) -> list[str]:
    """What each redraw showed: the text between carriage returns and line ends, codes removed."""
    return [frame for frame in re.split(r"[\r\n]", ANSI.sub("", output)) if frame.strip()]


def run_steps(stream, total=20):
    reporter = Reporter(stream=stream)
    reporter.start("dalle 1/2")
    for step in range(1, total + 1):
        reporter(step, total)
    reporter.finish()
    return stream.getvalue()


@pytest.mark.parametrize("columns", [80, 36])
def test_the_bar_fits_the_terminal_and_redraws_in_place(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    output = run_steps(Terminal())
    shown = frames(output)
    assert shown and all(cell_len(frame) <= columns for frame in shown)
    assert output.count("\n") == 1  # rich's last line, which it then erases: no line per redraw
    last = shown[-1]
    assert "dalle 1/2" in last and "100%" in last and "eta" in last
    if columns == 80:
        assert "20/20" in last and "step/s" in last and "elapsed" in last


def test_before_the_first_step_a_spinner_says_it_is_loading(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    reporter = Reporter(stream=terminal)
    reporter.start("dalle")
    assert "dalle (loading)" in frames(terminal.getvalue())[0]
    reporter.finish()
    with reporter.busy("checking the settings and loading models"):
        pass
    assert any(f.endswith("checking the settings and loading models elapsed 0:00") for f in frames(terminal.getvalue()))


def test_notes_go_above_the_bar(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    reporter = Reporter(stream=terminal)
    reporter.start("dalle")
    reporter(1, 4)
    reporter.note("stopping after this step")
    reporter(2, 4)
    reporter.finish()
    assert "stopping after this step\n" in ANSI.sub("", terminal.getvalue())


def test_figures_are_shown_beside_the_label_on_a_terminal_and_a_pipe(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    terminal = Terminal()
    reporter = Reporter(stream=terminal)
    reporter.start("train clip")
    reporter(1, 4, figures={"loss": 0.123456, "accuracy": 0.5})
    reporter.finish()
    assert "train clip  loss 0.1235  accuracy 0.5" in frames(terminal.getvalue())[-1]
    lines = run_steps_with_figures(Reporter(stream=io.StringIO(), every=5))
    assert [line.split(" ")[1] for line in lines] == ["1/12", "5/12", "10/12", "12/12"]
    assert lines[-1].startswith("job: 12/12 100%  loss 12  ") and "eta 0:00" in lines[-1]


def run_steps_with_figures(reporter, total=12):
    reporter.start("job")
    for step in range(1, total + 1):
        reporter(step, total, figures={"loss": step})
    reporter.finish()
    return reporter.stream.getvalue().splitlines()


def test_a_job_that_logs_writes_lines_on_a_pipe_unless_told_never(monkeypatch):
    monkeypatch.setenv("ARTENGINE_PROGRESS", "never")
    assert run_steps_with_figures(Reporter(stream=io.StringIO(), every=5)) == []


def test_nothing_on_a_pipe_unless_asked(monkeypatch):
    assert run_steps(io.StringIO()) == ""
    monkeypatch.setenv("ARTENGINE_PROGRESS", "never")
    assert run_steps(Terminal()) == ""
    monkeypatch.setenv("ARTENGINE_PROGRESS", "always")
    lines = run_steps(io.StringIO()).splitlines()
    assert len(lines) == 11  # the first step, then every tenth of the way
    assert lines[-1].startswith("dalle 1/2: 20/20 100% ") and "step/s elapsed" in lines[-1] and "eta 0:00" in lines[-1]
