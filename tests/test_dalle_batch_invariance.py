"""A dalle candidate's pixels do not depend on the batch it was made in, nor on its place there.

`reproduce` remakes a candidate alone (-n 1), so a candidate made among others must come out
bit for bit the same. The sampler's rows are independent (test_dalle_sampling.py checks the
codes); these tests hold the decoding of codes into pixels to the same standard, with the
shipped VQGAN, whose convolutions over a batch round differently from those over one image.
"""

import pytest
import torch

import artengine
from artengine.plugins.dalle.generator import to_images


@pytest.fixture
def vqgan(builtin_plugins):
    return artengine.load_model("vqgan:shapes", "cpu")


@pytest.mark.parametrize("batch, seed", [(2, 0), (3, 1), (6, 2)])
def test_each_image_of_a_batch_equals_the_image_decoded_alone(vqgan, batch, seed):
    rows = cols = 8
    codes = torch.randint(0, vqgan.n_embed, (batch, rows * cols), generator=torch.Generator().manual_seed(seed))
    together = to_images(vqgan, codes, rows, cols)
    for position, row in enumerate(codes):
        (alone,) = to_images(vqgan, row[None], rows, cols)
        assert together[position].tobytes() == alone.tobytes(), f"image {position} of {batch}"
