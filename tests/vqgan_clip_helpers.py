"""Tiny stand-in models for the vqgan-clip tests, served by test model loaders.

`vqgan:tiny` is a random 8x-downsampling VQGAN with the documented interface. `clip:tiny` and
`clip:tiny32` are a "colour CLIP": an image embeds as its mean colour, a text as the colour
words it names, so that "red" really is closer to red images. That makes the optimisation's
effect checkable in a test in a second. (This module holds no tests itself.)
"""

from __future__ import annotations

import json

import torch
from torch import nn
import torch.nn.functional as F

import artengine
from artengine import ModelLoader

COLOUR_WORDS = {"red": (1, -1, -1), "green": (-1, 1, -1), "blue": (-1, -1, 1), "white": (1, 1, 1),
                "black": (-1, -1, -1), "yellow": (1, 1, -1)}


class TinyVQGAN(nn.Module):
    factor = 8

    def __init__(self, seed: int = 0, n_embed: int = 32, embed_dim: int = 8):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embedding = nn.Parameter(torch.randn(n_embed, embed_dim, generator=generator))
        self.to_latent = nn.Conv2d(3, embed_dim, 1)
        self.to_pixels = nn.Conv2d(embed_dim, 3, 3, padding=1)
        with torch.no_grad():
            for parameter in [*self.to_latent.parameters(), *self.to_pixels.parameters()]:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)

    @property
    def codebook(self):
        return self.embedding

    def encode(self, images):
        latents = self.to_latent(F.avg_pool2d(images * 2 - 1, self.factor))
        flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        codes = torch.cdist(flat, self.embedding).argmin(1)
        return codes.view(latents.shape[0], latents.shape[2], latents.shape[3])

    def embed(self, codes):
        return self.embedding[codes].permute(0, 3, 1, 2)

    def decode_latents(self, z):
        return torch.sigmoid(self.to_pixels(F.interpolate(z, scale_factor=self.factor, mode="nearest")))

    def decode(self, codes):
        return self.decode_latents(self.embed(codes))


class ColourCLIP(nn.Module):
    """Embeds an image as its mean colour (plus a fixed part), a text as its colour words."""

    def __init__(self, image_size: int = 16):
        super().__init__()
        self.image_size = image_size
        self.scale = nn.Parameter(torch.tensor(4.0))
        self.sizes_seen: list[tuple[int, int]] = []

    def encode_image(self, images):
        self.sizes_seen.append(tuple(images.shape[-2:]))
        colour = (images.mean(dim=(2, 3)) * 2 - 1) * self.scale
        return F.normalize(torch.cat([colour, torch.ones_like(colour[:, :1])], 1), dim=-1)

    def encode_text(self, texts):
        rows = []
        for text in texts:
            vectors = [COLOUR_WORDS[w] for w in text.lower().split() if w in COLOUR_WORDS] or [(0, 0, 0)]
            colour = torch.tensor(vectors, dtype=torch.float32).mean(0) * 4
            rows.append(torch.cat([colour, torch.ones(1)]))
        return F.normalize(torch.stack(rows), dim=-1).to(self.scale.device)


class TinyVQGANLoader(ModelLoader):
    kind = "vqgan"
    description = "Test VQGANs, and one model under that kind that is no image tokenizer."
    spec_forms = ("vqgan:tiny", "vqgan:colour-clip")

    def load(self, name, device):
        if name == "colour-clip":
            return ColourCLIP().to(device)
        if name != "tiny":
            raise artengine.UsageError(f"vqgan:{name}: the test loader only knows vqgan:tiny")
        return TinyVQGAN().to(device)


class ColourCLIPLoader(ModelLoader):
    kind = "clip"
    description = "Test CLIPs that see colours."
    spec_forms = ("clip:tiny", "clip:tiny32")

    def load(self, name, device):
        sizes = {"tiny": 16, "tiny32": 32}
        if name not in sizes:
            raise artengine.UsageError(f"clip:{name}: the test loader only knows clip:tiny and clip:tiny32")
        return ColourCLIP(sizes[name]).to(device)


class TinyModels:
    """A plugin object serving the tiny models."""

    @artengine.hookimpl
    def register_model_loaders(self, register):
        register(TinyVQGANLoader())
        register(ColourCLIPLoader())


def use_tiny_models(host):
    """Register the built-in generator and losses plus the tiny models in the test's host."""
    import artengine.plugins.losses
    import artengine.plugins.clip_guided

    host.add(artengine.plugins.clip_guided, name="clip_guided")
    host.add(artengine.plugins.losses, name="losses")
    host.add(TinyModels(), name="tiny-models")


class CtrlC(artengine.Loss):
    """Presses Ctrl-C (sends SIGINT to this process) during a chosen step, for one prompt or any;
    adds nothing to the loss."""

    name = "ctrl_c"
    description = "test: interrupt at a step"
    options = (artengine.Option("at_step", int, 0, "0-based step"),
               artengine.Option("prompt", str, "", "only for this prompt"))

    def __call__(self, images, context):
        import os
        import signal

        prompt = self.settings["prompt"]
        if context.step == self.settings["at_step"] and prompt in ("", context.prompt.text):
            os.kill(os.getpid(), signal.SIGINT)
        return images.sum() * 0


class CtrlCPlugin:
    """A plugin object registering the `ctrl_c` loss."""

    @artengine.hookimpl
    def register_losses(self, register):
        register(CtrlC)


TINY = ["--set", "generator.vqgan=vqgan:tiny", "--set", 'generator.clip=["clip:tiny"]']
"""CLI arguments that point vqgan-clip at the tiny models."""


def fast(*extra: str, steps: int = 4, cutn: int = 4) -> list[str]:
    return [*TINY, "--set", f"generator.steps={steps}", "--set", f"generator.cutn={cutn}", *extra]


def run_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
