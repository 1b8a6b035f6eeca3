"""A loaded dalle checkpoint: the transformer, its tokenizer and its VQGAN, on one device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import artengine
import artengine.files
from artengine import UsageError

from .checkpoint import (CONFIG_FILE, PREFIX, WEIGHTS_FILE, check_gpt2_config, image_size, layout_of, load_weights,
                         read_config, resolve_folder, weights_hash)
from .layout import Layout
from .model import DalleLM, Shape
from .text import caption_ids, load_tokenizer, text_rows


@dataclass
class Dalle:
    lm: DalleLM
    tokenizer: Any
    vqgan: Any
    config: dict
    folder: Path
    name: str  # as the user gave it ('shapes'), for messages: the folder may be a deep path

    @property
    def layout(self) -> Layout:
        return self.lm.layout

    @property
    def image_size(self) -> tuple[int, int]:
        return image_size(self.config)

    @property
    def device(self) -> torch.device:
        return self.lm.embedding.device

    def text(self, captions: list[str]) -> torch.Tensor:
        """Token rows B x text_length for `captions` ("" is the null caption)."""
        length = self.layout.text_length - 2  # [BOS] and [EOS] aside
        warn_of_cut_text(f"dalle:{self.name}", captions, lambda c: len(caption_ids(self.tokenizer, c)), length)
        rows = text_rows(self.tokenizer, captions, self.layout.text_length)
        return torch.tensor(rows, dtype=torch.long, device=self.device)


def warn_of_cut_text(model: str, captions: list[str], count, length: int) -> None:
    """A warning for each caption longer than the `length` tokens `model` reads (`count(caption)`
    is its number of tokens): the rest is cut, which a user should know."""
    for caption in captions:
        found = count(caption)
        if found > length:
            shown = caption if len(caption) <= 40 else caption[:37] + "..."
            artengine.warn(f"{model} reads at most {length} tokens of text; {shown!r} has {found}, "
                           f"so its last {found - length} token(s) were cut")


def load_vqgan_checked(vqgan_config: dict, device: str, where: str):
    """The VQGAN named in a checkpoint's config, refused if its weights are not the recorded ones."""
    spec = vqgan_config["spec"]
    vqgan = artengine.load_model(spec, device, artengine.ImageTokenizer, f"{where}: vqgan.spec")
    found = weights_hash(vqgan)
    if found != vqgan_config["weights_hash"]:
        raise UsageError(
            f"{where} was trained on the codes of VQGAN '{spec}' with weights hash "
            f"{vqgan_config['weights_hash'][:12]}..., but '{spec}' now loads weights hashing {found[:12]}...; "
            "its images would be garbage: give the checkpoint the VQGAN it was trained with "
            "(edit vqgan.spec in its artengine_dalle.json) or retrain it"
        )
    return vqgan


def load_dalle(name: str, device: str = "cpu") -> Dalle:
    """`dalle:NAME`: a shipped model ('shapes') or a checkpoint folder, in eval mode on `device`."""
    folder = resolve_folder(name)
    config = read_config(folder)
    sizes = config["model"]
    artengine.files.check_model_fits(  # before a byte is allocated: the sizes must be the weights' own
        lambda: DalleLM(layout_of(config), Shape(**sizes)), folder / WEIGHTS_FILE, folder / CONFIG_FILE,
        counts={"n_layer": sizes.get("layers")}, renamed=lambda name: PREFIX + name)
    lm = DalleLM(layout_of(config), Shape(**sizes))
    check_gpt2_config(folder, lm)
    load_weights(lm, folder / WEIGHTS_FILE)
    vqgan = load_vqgan_checked(config["vqgan"], device, f"dalle:{name}")
    return Dalle(lm.to(device).eval().requires_grad_(False), load_tokenizer(folder), vqgan, config, folder, name)
