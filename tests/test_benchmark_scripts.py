"""The benchmark scripts that print the README's figures still run against the engine as it is
(their figures are theirs to print; this only runs them briefly and reads their JSON)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def figures(script: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("script, args, key", [
    ("unclip_figures.py", ("speed", "--rounds", "1"), "unclip_over_dalle"),
    ("diffusion_loss.py", ("--rounds", "1", "--steps", "2"), "with_over_without"),
    ("search.py", ("order", "--n", "16"), "caption_above_swapped_caption"),
])
def test_a_figure_script_runs_and_prints_its_figure(script, args, key):
    assert figures(script, *args)[key] > 0
