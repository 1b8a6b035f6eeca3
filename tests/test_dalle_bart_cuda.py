"""DALL·E Mini/Mega's cached decoder on CUDA: its step captured as a CUDA graph and replayed.

These run only where CUDA is (`bash benchmarks/gpu_figures.sh` runs them); on a CPU the same
fixed-shape steps run uncaptured in test_dalle_bart_min_dalle.py.
"""

import pytest
import torch

from artengine.plugins.dalle.sampling import SamplingSettings
from tests.dalle_helpers import assert_graph_draws_the_eager_codes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("settings", [SamplingSettings(precision="fp32", top_k=1, guidance=16.0),
                                      SamplingSettings(precision="fp32", top_k=256, guidance=16.0)], ids=["greedy", "top-k"])
def test_the_captured_steps_draw_the_eager_loops_codes(tmp_path, settings):
    from artengine.plugins.dalle.bart.bundle import load_dalle_bart
    from artengine.plugins.dalle.bart.random_folder import write_random_folder

    write_random_folder(tmp_path, "tiny", seed=2, image_encoder=False)
    assert_graph_draws_the_eager_codes(load_dalle_bart(str(tmp_path), "cuda"), "an avocado armchair", settings)
