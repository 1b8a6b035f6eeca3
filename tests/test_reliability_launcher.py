"""Leftover or mistyped launcher variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT, ACCELERATE_*): `generate` and `train` end at once, or within the rendezvous timeout
when a process is missing, in one line naming the variable, never waiting for hours nor in a
traceback. Every case is a real process, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "from tests.plugins_for_tests import register_generators, register_scorers, register_trainers  # noqa: F401\n"
LAUNCHER = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK",
            "ROLE_RANK", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RUN_ID")
TIMEOUT_S = 3  # ARTENGINE_RENDEZVOUS_TIMEOUT for these runs
GENERATE = ("generate", "--prompts", "prompts.txt", "-g", "solid", "-n", "1", "--out", "out")
TRAIN = ("train", "line", "--out", "run", "--steps", "2", "--threads", "1", "--device", "cpu")


def started(tmp_path, command, env: dict[str, str]) -> subprocess.Popen:
    if not (tmp_path / "plugins").exists():
        (tmp_path / "plugins").mkdir()
        (tmp_path / "plugins" / "test_plugin.py").write_text(PLUGIN)
        (tmp_path / "prompts.txt").write_text("a red square\na blue circle\n")
    clean = {k: v for k, v in os.environ.items() if k not in LAUNCHER and not k.startswith("ACCELERATE_")}
    environment = {**clean, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ARTENGINE_LOAD_PLUGINS": "test_plugin",
                   "ARTENGINE_RENDEZVOUS_TIMEOUT": str(TIMEOUT_S), **env}
    return subprocess.Popen([sys.executable, "-m", "artengine", "--plugins-dir", "plugins", *command], cwd=tmp_path,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rendezvous(rank: int, world: int = 2, port: int | None = None) -> dict[str, str]:
    return {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port or free_port())}


BOTH = (GENERATE, TRAIN)
CASES = [  # (commands, environment, words of the one line; "{port}" is the case's MASTER_PORT)
    (BOTH, {"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not a whole number"),
    ((GENERATE,), {"WORLD_SIZE": "0"}, "WORLD_SIZE='0' is out of range"),
    ((GENERATE,), {"WORLD_SIZE": ""}, "WORLD_SIZE='' is empty"),
    ((GENERATE,), {"WORLD_SIZE": "2"}, "WORLD_SIZE='2' asks for several processes, but RANK is not set"),
    ((GENERATE,), {**rendezvous(0), "MASTER_ADDR": ""}, "MASTER_ADDR is not set"),
    (BOTH, {**rendezvous(0), "RANK": "2"}, "RANK='2' is beyond the 2 process(es)"),
    ((GENERATE,), {"RANK": "-1"}, "RANK='-1' is not a whole number"),
    ((GENERATE,), {**rendezvous(1), "LOCAL_RANK": "1.5"}, "LOCAL_RANK='1.5' is not a whole number"),
    (BOTH, {"LOCAL_RANK": "0"}, "LOCAL_RANK='0' is set but WORLD_SIZE is not"),
    ((GENERATE,), {**rendezvous(0), "MASTER_PORT": "70000"}, "MASTER_PORT='70000' is out of range"),
    ((GENERATE,), {"MASTER_PORT": "http"}, "MASTER_PORT='http' is not a whole number"),
    ((GENERATE,), {**rendezvous(0), "ARTENGINE_RENDEZVOUS_TIMEOUT": "soon"},
     "ARTENGINE_RENDEZVOUS_TIMEOUT='soon' is not a number of seconds"),
    # a process that never comes: the short rendezvous timeout, not torch's hours
    (BOTH, rendezvous(0), f"rank(s) 1 of WORLD_SIZE=2 did not start within {TIMEOUT_S} s"),
    ((GENERATE,), rendezvous(0, world=3), f"rank(s) 1, 2 of WORLD_SIZE=3 did not start within {TIMEOUT_S} s"),
    (BOTH, rendezvous(1), "no rank 0 answered at MASTER_ADDR:MASTER_PORT=127.0.0.1:{port} within 3 s: WORLD_SIZE=2"),
    # accelerate's own settings
    ((TRAIN,), {"ACCELERATE_USE_CPU": "maybe"}, "accelerate refused the settings in the environment "
                                                "(ACCELERATE_USE_CPU='maybe')"),
    ((TRAIN,), {"ACCELERATE_DYNAMO_BACKEND": "foo", "ACCELERATE_MIXED_PRECISION": "foo"},
     "(ACCELERATE_DYNAMO_BACKEND='foo', ACCELERATE_MIXED_PRECISION='foo')"),
    ((TRAIN,), {"ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "x"}, "ACCELERATE_GRADIENT_ACCUMULATION_STEPS='x'"),
]


@pytest.mark.parametrize("commands, env, words", CASES)
def test_bad_launcher_variables_end_in_one_line_naming_them(tmp_path, commands, env, words):
    for command in commands:
        (tmp_path / command[0]).mkdir()
        began = time.monotonic()
        process = started(tmp_path / command[0], command, env)
        try:
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
        lines = err.strip().splitlines()
        assert process.returncode == 2 and len(lines) == 1, err[-3000:]
        assert lines[0].startswith("artengine: error: ") and words.format(port=env.get("MASTER_PORT")) in lines[0]
        assert time.monotonic() - began < TIMEOUT_S + 40  # bounded: never torch's hours
        assert not (tmp_path / command[0] / "out").exists() and not (tmp_path / command[0] / "run").exists()


def test_two_processes_started_by_hand_meet_within_the_timeout(tmp_path):
    """Without a launcher's agent rank 0 serves the rendezvous itself; a second rank started a
    little later still joins, and the two share the prompts."""
    port = free_port()
    first = started(tmp_path, (*GENERATE, "--json"), rendezvous(0, port=port))
    time.sleep(1)
    second = started(tmp_path, (*GENERATE, "--json"), rendezvous(1, port=port))
    try:
        out, err = first.communicate(timeout=120)
        _, err1 = second.communicate(timeout=60)
    finally:
        first.kill()
        second.kill()
    assert first.returncode == 0 and second.returncode == 0, err[-2000:] + err1[-2000:]
    document = json.loads((Path(json.loads(out)["run_dir"]) / "run.json").read_text())
    assert document["processes"] == 2 and len(document["images"]) == 2
