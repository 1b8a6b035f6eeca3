"""benchmarks/dalle_sampling.py: every method it times samples valid image codes."""

import importlib.util
from pathlib import Path

import pytest
import torch

from artengine.plugins.dalle.layout import BOS, EOS, PAD, Layout
from artengine.plugins.dalle.model import DalleLM, Shape

PATH = Path(__file__).parent.parent / "benchmarks" / "dalle_sampling.py"


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("dalle_sampling", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method", ["artengine", "artengine_guided", "artengine_eager", "past_key_values_loop",
                                    "uncached_loop", "generate"])
def test_each_method_samples_one_image_code_per_position(benchmark, method, precision):
    torch.manual_seed(0)
    lm = DalleLM(Layout(text_vocab=12, n_codes=20, text_length=5, rows=2, cols=3), Shape(1, 16, 2)).eval()
    lm = lm.to(torch.bfloat16 if precision == "bf16" else torch.float32)  # as the benchmark's load() leaves it
    text, null = torch.tensor([[BOS, 5, 6, EOS, PAD]]), torch.tensor([[BOS, EOS, PAD, PAD, PAD]])
    codes = benchmark.run_method(method, lm, text, null, batch=3, precision=precision)
    assert codes.shape == (3, 6)
    assert 0 <= int(codes.min()) and int(codes.max()) < 20


def test_timings_report_every_method(benchmark, monkeypatch):
    torch.manual_seed(0)
    lm = DalleLM(Layout(12, 20, 5, 2, 2), Shape(1, 16, 2)).eval()
    text = torch.tensor([[BOS, 5, EOS, PAD, PAD]])
    monkeypatch.setattr(benchmark, "load", lambda *args: (lm, text, text))
    rounds, tokens = benchmark.timings(["artengine", "uncached_loop"], "shapes", "cpu", 2, 2, "unused", "fp32")
    assert tokens == 4 and set(rounds) == {"artengine", "uncached_loop"}
    assert all(len(times) == 2 and min(times) > 0 for times in rounds.values())


def test_ratios_are_taken_within_each_round(benchmark):
    # a slow second round slows both methods: the ratio within each round stays 2
    assert benchmark.paired_ratio([2.0, 20.0, 2.2], [1.0, 10.0, 1.1]) == 2.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_the_gpu_configuration_is_refused_without_cuda_unless_forced():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(PATH), "--config", "h100"], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no CUDA device here" in done.stderr and "--device cpu" in done.stderr


@pytest.fixture
def min_dalle_peer():
    """benchmarks/min_dalle_peer.py, with the global torch state importing min-dalle changes restored."""
    grad, threads = torch.is_grad_enabled(), torch.get_num_threads()
    spec = importlib.util.spec_from_file_location("min_dalle_peer", PATH.with_name("min_dalle_peer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    torch.set_grad_enabled(grad)
    torch.set_num_threads(threads)


def test_min_dalle_and_artengine_sample_the_same_weights_alike(min_dalle_peer, one_thread):
    """The peer comparison is like with like: greedy codes (top_k=1) agree, with super-conditioning."""
    lm, tokenizer, peer = min_dalle_peer.build("tiny", "cpu")
    ours = min_dalle_peer.artengine_codes(lm, tokenizer, 2, top_k=1, supercondition=16.0, precision="fp32")
    theirs = min_dalle_peer.min_dalle_codes(peer, 2, top_k=1, supercondition=16.0)
    assert ours.shape == (2, 256) and torch.equal(ours, theirs)
