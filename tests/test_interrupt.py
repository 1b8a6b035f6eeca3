"""Stopping: what exists is saved, the run is marked interrupted, the exit code is non-zero."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import artengine.cli
from artengine.errors import StopRequested
from artengine.progress import Reporter
from tests.plugins_for_tests import artengine_script


def test_reporter_raises_once_a_stop_is_requested():
    reporter = Reporter()
    reporter(1, 10)
    reporter.request_stop()
    try:
        reporter(2, 10)
    except StopRequested:
        pass
    else:
        raise AssertionError("StopRequested was not raised")


def stopped_run(cli, monkeypatch, *args):
    monkeypatch.setenv("TEST_STOP_AT_STEP", "3")
    result = cli("generate", "--prompts", "prompts.txt", "-g", "slow", "-n", "2", "--seed", "1",
                 "--set", "generator.steps=6", *args, "--json")
    monkeypatch.delenv("TEST_STOP_AT_STEP")
    assert result.exit_code == 130, result.output
    return result


def test_stopped_generator_saves_partial_work_and_marks_the_run(cli, tmp_path, monkeypatch):
    (tmp_path / "prompts.txt").write_text("red\nblue\n")
    result = stopped_run(cli, monkeypatch)
    document = json.loads(result.stdout)
    assert document["status"] == "interrupted"
    assert [(i["prompt"], i["seed"]) for i in document["images"]] == [("red", 1), ("red", 2)]
    assert all(Path(i["path"]).is_file() for i in document["images"])
    run = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    assert run["status"] == "interrupted" and "stopped by the user" in run["error"]
    assert run["images"][0]["metadata"]["interrupted"] is True
    assert "stopped by the user" in result.stderr


def test_resume_continues_from_the_saved_state_in_the_same_folder(cli, tmp_path, monkeypatch):
    (tmp_path / "prompts.txt").write_text("red\nblue\n")
    run_dir = Path(json.loads(stopped_run(cli, monkeypatch).stdout)["run_dir"])
    assert (run_dir / "state").is_dir()
    before = (run_dir / "run.json").read_text()
    assert "--resume takes no other settings" in cli("generate", "green", "--resume", run_dir).stderr
    assert (run_dir / "run.json").read_text() == before
    result = cli("generate", "--resume", run_dir, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["run_dir"] == str(run_dir.resolve()) and document["status"] == "complete"
    assert [(i["prompt"], i["seed"]) for i in document["images"]] == [("red", 1), ("red", 2), ("blue", 1), ("blue", 2)]
    run = json.loads((run_dir / "run.json").read_text())
    assert [i["metadata"]["started_at"] for i in run["images"]] == [3, 3, 0, 0]  # red went on from step 3
    assert len(run["partial"]) == 2 and all((run_dir / p["path"]).is_file() for p in run["partial"])
    assert not (run_dir / "state").exists()
    assert "already complete" in cli("generate", "--resume", run_dir).stderr


def example_of(param) -> list[str]:
    """A command line that gives `param` (a click option or argument) a value of its type."""
    import click

    if isinstance(param, click.Argument):
        return ["green"]
    if param.is_flag:
        return [param.opts[0]]
    value = param.type.choices[0] if isinstance(param.type, click.Choice) else "1" if param.type is click.INT else "a=1"
    return [param.opts[0], value]


@pytest.mark.parametrize("command", ["generate", "compare"])
def test_every_flag_given_with_resume_is_refused_never_dropped(cli, tmp_path, monkeypatch, command):
    """Read from the commands themselves, so a flag added to them is covered without a word here."""
    (tmp_path / "prompts.txt").write_text("red\nblue\n")
    run_dir = Path(json.loads(stopped_run(cli, monkeypatch).stdout)["run_dir"])
    before = (run_dir / "run.json").read_text()
    settings = [param for param in artengine.cli.cli.commands[command].params
                if param.name not in ("resume_dir", "as_json")]  # --json is --resume's own
    assert len(settings) >= 13  # the prompt, -n, --seed, ..., -g
    for param in settings:
        result = cli(command, "--resume", run_dir, *example_of(param))
        assert result.exit_code == 2, (param.name, result.output)
        assert "--resume takes no other settings" in result.stderr and "given: " in result.stderr, result.output
        assert (run_dir / "run.json").read_text() == before
    assert cli(command, "--resume", run_dir, "--json").exit_code == 0


def test_resume_errors(cli, tmp_path):
    assert "no run.json there" in cli("generate", "--resume", tmp_path).stderr
    assert "no run.json there" in cli("generate", "red", "--resume", tmp_path / "nowhere").stderr
    (tmp_path / "run.json").write_text("{")
    assert "its run.json is unreadable" in cli("compare", "--resume", tmp_path).stderr


def test_compare_resumes_too(cli, tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text('prompt = "red"\nseed = 1\n[configurations.a]\ngenerator = "solid"\n'
                      '[configurations.b]\ngenerator = { name = "slow", steps = 4 }\n')
    monkeypatch.setenv("TEST_STOP_AT_STEP", "2")
    result = cli("compare", "--config", config, "--json")
    monkeypatch.delenv("TEST_STOP_AT_STEP")
    assert result.exit_code == 130
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    resumed = cli("compare", "--resume", run_dir, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(i["configuration"] for i in json.loads(resumed.stdout)["images"]) == ["a", "b"]
    assert (run_dir / "index.html").read_text().count('class="label"') == 2
    # the run's own grid and report now show the finished run (not a grid-2.png beside the old)
    assert [p.name for p in run_dir.glob("grid*.png")] == ["grid.png"]
    assert [p.name for p in run_dir.glob("index*.html")] == ["index.html"]
    assert "status: <b class=\"status\">complete" in (run_dir / "index.html").read_text()


def test_crashing_generator_keeps_earlier_images_and_reports_one_line(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('prompt = "red"\nseed = 1\n[configurations.ok]\ngenerator = "solid"\n[configurations.bad]\ngenerator = "crashing"\n')
    result = cli("compare", "--config", config, "--json")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "artengine: error: generator 'crashing' failed on prompt 'red': RuntimeError: boom"
    )
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and len(document["images"]) == 1
    assert (Path(document["run_dir"]) / "grid.png").is_file()


SCRIPT = artengine_script("""
sys.argv = ["artengine", "generate", "red", "-g", "slow", "-n", "2", "--seed", "1", "--set", "generator.steps=400000", "--json"]
main()
""")


def start_slow_run(tmp_path):
    """A real `artengine generate` process, returned once its run folder exists."""
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir()):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    return process


def test_ctrl_c_in_a_real_process_saves_and_exits_130(tmp_path):
    process = start_slow_run(tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert json.loads(out)["status"] == "interrupted"
    assert "Traceback" not in err
    assert "stopping after this step" in err


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    process = start_slow_run(tmp_path)
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    run_dir = Path(json.loads(out)["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
