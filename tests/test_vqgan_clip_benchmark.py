"""benchmarks/vqgan_clip.py: both loops it times run on the same models, and its ratios are fair."""

import importlib.util
from pathlib import Path

import pytest
import torch

from tests.vqgan_clip_helpers import use_tiny_models

PATH = Path(__file__).parent.parent / "benchmarks" / "vqgan_clip.py"


@pytest.fixture
def benchmark(host):
    use_tiny_models(host)
    spec = importlib.util.spec_from_file_location("vqgan_clip_benchmark", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_loops_optimise_on_the_same_models(benchmark):
    torch.manual_seed(0)
    loops = benchmark.loops("vqgan:tiny", "clip:tiny", 32, 4, "cpu")
    assert set(loops) == {"textbook", "artengine"}
    for loop in loops.values():
        next(loop)
        next(loop)  # a second step: the loop keeps its latents and optimiser between steps


def test_timing_reports_both_loops_per_step(benchmark):
    times = benchmark.measure_time("vqgan:tiny", "clip:tiny", 32, 4, steps=2, warmup=1, device="cpu", block=1)
    for name in ("textbook", "artengine"):
        assert times[name]["steps_timed"] >= 2 and times[name]["ms_per_step"] > 0


def test_the_speedup_is_taken_within_each_block(benchmark):
    # a slow second block slows both loops: the ratio within each block stays 2
    assert benchmark.paired_ratio([2.0, 20.0, 2.2], [1.0, 10.0, 1.1]) == 2.0
