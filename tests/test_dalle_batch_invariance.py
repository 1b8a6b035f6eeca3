"""A dalle candidate's pixels do not depend on the batch it was made in, nor on its place there.

`reproduce` remakes a candidate alone (-n 1), so a candidate made among others must come out
bit for bit the same. The sampler's rows are independent (test_dalle_sampling.py checks the
codes); these tests hold the decoding of codes into pixels to the same standard, with the
shipped VQGAN, whose convolutions over a batch round differently from those over one image.
"""

import json

import pytest
import torch

import artengine
from artengine.plugins.dalle.generator import to_images


@pytest.fixture
def vqgan(builtin_plugins):
    return artengine.load_model("vqgan:shapes", "cpu")


@pytest.mark.parametrize("batch, seed", [(2, 0), (3, 1), (6, 2), (9, 3)])
def test_each_image_of_a_batch_equals_the_image_decoded_alone(vqgan, batch, seed):
    rows = cols = 8
    codes = torch.randint(0, vqgan.n_embed, (batch, rows * cols), generator=torch.Generator().manual_seed(seed))
    together = to_images(vqgan, codes, rows, cols)
    for position, row in enumerate(codes):
        (alone,) = to_images(vqgan, row[None], rows, cols)
        assert together[position].tobytes() == alone.tobytes(), f"image {position} of {batch}"


def test_the_second_of_two_candidates_reproduces_exactly(cli, builtin_plugins):
    made = cli("generate", "a red circle", "-g", "dalle", "-n", "2", "--seed", "1", "--scorer", "none", "--json")
    assert made.exit_code == 0, made.output
    second = next(image for image in json.loads(made.stdout)["images"] if image["seed"] == 2)
    again = cli("reproduce", second["path"], "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["max_difference"] == 0
