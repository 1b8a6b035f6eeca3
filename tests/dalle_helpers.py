"""Helpers for the dalle tests: a tiny palette VQGAN plugin, a random checkpoint, pairs on disk.

The `tinyvq` model loader stands in for a real VQGAN: `tinyvq:N` tokenises each 8x8 patch to
the nearest of N palette colours (`tinyvq:N-sS` draws another palette with seed S). It is a
plugin file, so subprocess tests can load it with --plugins-dir.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import artengine
from artengine import ModelLoader

FACTOR = 8


class PaletteVQ(nn.Module):
    """encode: mean colour of each 8x8 patch -> nearest palette entry; decode: paint the patches.
    Its latents are the patches' colours."""

    factor = FACTOR

    def __init__(self, n_codes: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.codebook = nn.Parameter(torch.rand(n_codes, 3, generator=generator), requires_grad=False)

    def encode(self, images):
        means = torch.nn.functional.avg_pool2d(images, FACTOR)  # B x 3 x h x w
        codes = torch.cdist(means.permute(0, 2, 3, 1).reshape(-1, 3), self.codebook).argmin(1)
        return codes.view(images.shape[0], means.shape[2], means.shape[3])

    def decode(self, codes):
        return self.decode_latents(self.embed(codes))

    def embed(self, codes):
        return self.codebook[codes].permute(0, 3, 1, 2)

    def decode_latents(self, latents):
        return latents.repeat_interleave(FACTOR, 2).repeat_interleave(FACTOR, 3)


class TinyVQLoader(ModelLoader):
    kind = "tinyvq"
    description = "palette VQ for tests"

    def available(self):
        return [artengine.ModelInfo("tinyvq:16", "a 16-colour palette")]

    def load(self, name, device):
        count, _, seed = name.partition("-s")
        return PaletteVQ(int(count), int(seed or 0)).to(device)


@artengine.hookimpl
def register_model_loaders(register):
    register(TinyVQLoader())


# -- for the tests themselves -------------------------------------------------------------

CAPTIONS = ["a red square", "a blue circle", "a green square on the left", "a red circle at the top",
            "a blue square", "a green circle"]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220)}


@pytest.fixture
def dalle_host(host):
    import artengine.plugins.dalle
    import tests.dalle_helpers as helpers

    host.add(artengine.plugins.dalle, name="dalle")
    host.add(helpers, name="tinyvq")
    return host


def write_pairs(folder: Path, count: int = 12) -> Path:
    """`count` 64x64 images with captions; image i shows the colour named in caption i % 6."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        caption = CAPTIONS[i % len(CAPTIONS)]
        colour = next(COLOURS[w] for w in caption.split() if w in COLOURS)
        image = Image.new("RGB", (64, 64), (0, 0, 0))
        ImageDraw.Draw(image).rectangle((16, 16, 47, 47), fill=colour)
        image.save(folder / f"{i:03d}.png")
        (folder / f"{i:03d}.txt").write_text(caption + "\nanother caption\n" if i % 2 else caption)
    return folder


def make_checkpoint(folder: Path, vqgan_spec: str = "tinyvq:32", layers: int = 2, width: int = 32,
                    seed: int = 0) -> Path:
    """A random-weight dalle checkpoint folder over `vqgan_spec`, as training would write it."""
    from artengine.plugins.dalle.card import render_card
    from artengine.plugins.dalle.checkpoint import FORMAT, FORMAT_VERSION, save_model, weights_hash
    from artengine.plugins.dalle.layout import Layout
    from artengine.plugins.dalle.model import DalleLM, Shape
    from artengine.plugins.dalle.text import train_tokenizer

    vqgan = artengine.load_model(vqgan_spec, "cpu")
    tokenizer = train_tokenizer(CAPTIONS, 200)
    layout = Layout(tokenizer.get_vocab_size(), vqgan.codebook.shape[0], 10, 8, 8)
    shape = Shape(layers, width, 4)
    torch.manual_seed(seed)
    lm = DalleLM(layout, shape)
    with torch.no_grad():  # GPT-2's init gives near-uniform logits; make the choices matter
        lm.gpt.transformer.ln_f.weight.mul_(30)
        for block in lm.gpt.transformer.h:
            block.attn.c_proj.weight.mul_(20)
            block.mlp.c_proj.weight.mul_(20)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "layout": layout.as_dict(), "model": shape.as_dict(),
        "vqgan": {"spec": vqgan_spec, "weights_hash": weights_hash(vqgan), "factor": FACTOR,
                  "n_codes": layout.n_codes, "image_size": [64, 64]},
    }
    save_model(folder, lm, tokenizer, config, render_card(config))
    return folder


def plugin_dir(tmp_path: Path) -> Path:
    """A --plugins-dir holding the tinyvq plugin, for subprocesses."""
    folder = tmp_path / "test-plugins"
    folder.mkdir(exist_ok=True)
    shutil.copy(Path(__file__), folder / "tinyvq_plugin.py")
    return folder


# flags of a tiny `train dalle` over tinyvq, and the command with them
TRAIN_TINY = ("--vqgan", "tinyvq:16", "--layers", "1", "--width", "16", "--heads", "2", "--batch-size", "4",
              "--sample-every", "0", "--log-every", "1", "--threads", "1")


def train(cli, *args):
    return cli("train", "dalle", *TRAIN_TINY, *args)


def assert_graph_draws_the_eager_codes(dalle, caption: str, settings) -> None:
    """On CUDA: the sampler's steps captured as a graph draw exactly the eager loop's codes."""
    import warnings
    from dataclasses import replace

    from artengine.plugins.dalle.sampling import sample_codes

    text, null = dalle.text([caption]), dalle.text([""])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed capture warns and falls back: fail here instead
        graph = sample_codes(dalle.lm, text, null, [1, 2, 3], settings)
    eager = sample_codes(dalle.lm, text, null, [1, 2, 3], replace(settings, loop="eager"))
    assert torch.equal(graph, eager)
