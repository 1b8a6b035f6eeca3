"""Untrusted files: a malicious pickle, in every place a run's own saved state is read back,
is refused with one line and never runs. (Model checkpoints: tests/test_reliability_bad_input.py,
tests/test_checkpoints.py, tests/test_clip_loading.py and tests/test_vqgan_train.py.)"""

import json
import os
from pathlib import Path

import pytest
import torch

from tests.dalle_helpers import write_pairs
from tests.dalle_helpers import train as train_dalle
from tests.vqgan_clip_helpers import fast, use_tiny_models

MARKER = "pwned-marker"


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def assert_refused(result, says, tmp_path):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("artengine: error: ") and says in lines[-1], result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / MARKER).exists()


def test_a_malicious_dalle_optimizer_state_is_refused_on_resume(dalle_host, cli, tmp_path):
    data = write_pairs(tmp_path / "pairs", count=4)
    assert train_dalle(cli, "--data", data, "--out", "model", "--steps", "2").exit_code == 0
    torch.save({"state": RunsCode()}, tmp_path / "model" / "checkpoints" / "step-00000002" / "optimizer.pt")
    result = train_dalle(cli, "--data", data, "--out", "model", "--steps", "3", "--resume")
    assert_refused(result, "cannot be read safely", tmp_path)


def test_a_malicious_vqgan_clip_state_is_refused_on_resume(host, cli, tmp_path):
    use_tiny_models(host)
    from artengine.plugins.clip_guided.state import FILE_NAME

    result = cli("generate", "red", "-g", "vqgan-clip", "--seed", "1", "--json", *fast())
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    run = json.loads((run_dir / "run.json").read_text())
    run["status"] = "interrupted"
    run["images"] = []
    (run_dir / "run.json").write_text(json.dumps(run))
    state = run_dir / "state" / "vqgan-clip-p1" / FILE_NAME
    state.parent.mkdir(parents=True)
    torch.save({"format": 1, "latents": RunsCode()}, state)
    assert_refused(cli("generate", "--resume", run_dir), "is not a readable generator state", tmp_path)
