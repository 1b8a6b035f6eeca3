"""Stopping: what exists is saved, the run is marked interrupted, the exit code is non-zero."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import StopRequested
from engine.progress import Reporter


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


def test_stopped_generator_saves_partial_work_and_marks_the_run(cli, tmp_path):
    result = cli("generate", "red", "-g", "slow", "-n", "3", "--seed", "1", "--set", "generator.stop_at=3",
                 "--set", "generator.steps=4", "--json")
    assert result.exit_code == 130
    document = json.loads(result.stdout)
    assert document["status"] == "interrupted"
    assert len(document["images"]) == 0 or all(Path(i["path"]).is_file() for i in document["images"])
    run = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    assert run["status"] == "interrupted" and "stopped by the user" in run["error"]
    assert "stopped by the user" in result.stderr


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


SCRIPT = """
import sys, engine.plugins
sys.path.insert(0, {root!r})
from tests import plugins_for_tests
engine.plugins.host.add(plugins_for_tests, name="test-plugins")
from engine.cli import main
sys.argv = ["artengine", "generate", "red", "-g", "slow", "-n", "2", "--seed", "1", "--set", "generator.steps=400000", "--json"]
main()
"""


def test_ctrl_c_in_a_real_process_saves_and_exits_130(tmp_path):
    root = str(Path(__file__).parent.parent)
    process = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=root)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir()):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert json.loads(out)["status"] == "interrupted"
    assert "Traceback" not in err
    assert "stopping after this step" in err


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    root = str(Path(__file__).parent.parent)
    process = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=root)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").iterdir()):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    run_dir = Path(json.loads(out)["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
