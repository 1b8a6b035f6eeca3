"""The dalle sampler on CUDA: its per-token step captured as a CUDA graph and replayed.

These run only where CUDA is (`bash benchmarks/gpu_figures.sh` runs them); on a CPU the same
fixed-shape steps run uncaptured in test_dalle_sampling.py.
"""

import warnings

import pytest
import torch

import artengine
from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes
from tests.dalle_helpers import assert_graph_draws_the_eager_codes, make_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("settings", [SamplingSettings(precision="fp32"), SamplingSettings(precision="fp32", guidance=3.0, top_p=0.9)],
                         ids=["plain", "guided-top-p"])
def test_the_captured_steps_draw_the_eager_loops_codes(dalle_host, tmp_path, settings):
    make_checkpoint(tmp_path / "model")
    dalle = artengine.load_model(f"dalle:{tmp_path / 'model'}", "cuda")
    assert_graph_draws_the_eager_codes(dalle, "a red square", settings)


def test_the_shipped_model_samples_through_a_graph_in_bf16(builtin_plugins):
    dalle = artengine.load_model("dalle:shapes", "cuda")
    text, null = dalle.text(["a large red circle on the left"]), dalle.text([""])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = sample_codes(dalle.lm, text, null, list(range(16)), SamplingSettings(precision="bf16", guidance=3.0))
    assert codes.shape == (16, dalle.layout.image_tokens)
    assert 0 <= int(codes.min()) and int(codes.max()) < dalle.layout.n_codes
