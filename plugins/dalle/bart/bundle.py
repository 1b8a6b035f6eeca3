"""A loaded DALL·E Mini/Mega: BART, tokenizer and VQGAN, with the interface the dalle
generator uses for its own models (plugins/dalle/bundle.py's `Dalle`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

import artengine

from ..bundle import warn_of_cut_text
from .detokenizer import Detokenizer, load_detokenizer
from .folder import Files, bart_shape, load_checked, locate, read_state
from .model import START, BartLayout, BartLM
from .text import BartTokenizer


@dataclass
class DalleBart:
    lm: BartLM
    tokenizer: BartTokenizer
    vqgan: Detokenizer
    folder: Path

    @property
    def layout(self) -> BartLayout:
        return self.lm.layout

    @property
    def image_size(self) -> tuple[int, int]:
        return self.layout.cols * self.vqgan.factor, self.layout.rows * self.vqgan.factor

    @property
    def device(self) -> torch.device:
        return self.lm.embedding.device

    def text(self, captions: list[str]) -> torch.Tensor:
        """Token rows B x text_length ("" is the empty caption, min-dalle's unconditional row)."""
        length = self.layout.text_length
        warn_of_cut_text(f"dalle-bart:{self.folder}", captions, lambda c: len(self.tokenizer.ids(c)), length)
        rows = [self.tokenizer.row(caption, length) for caption in captions]
        return torch.tensor(rows, dtype=torch.long, device=self.device)

    def estimate_bytes(self, request, batch: int, rows: int, dtype: torch.dtype, cache: torch.dtype) -> float:
        """Memory a request adds: what plugins/dalle/memory.py counts for the GPT-2 models, with
        this model's cache (self-attention over the codes, cross-attention over the captions)
        and its large decoded images (a chunk of them at a time)."""
        from .detokenizer import DECODE_CHUNK

        shape, layout = self.lm.shape, self.layout
        value = dtype.itemsize
        weights = sum(p.numel() for p in self.lm.parameters()) * value if self.lm.embedding.dtype != dtype else 0
        self_attention = 2 * shape.layers * rows * layout.image_tokens * shape.width * cache.itemsize
        cross = 2 * shape.layers * 2 * layout.text_length * shape.width * cache.itemsize
        noise = batch * layout.image_tokens * layout.n_codes * 4
        width, height = self.image_size
        # the VQGAN's widest activations: 128 channels at full size, a few alive, per image
        pixels = min(batch, DECODE_CHUNK) * 128 * width * height * 4 * 4 + batch * 3 * width * height * 4 * 2
        return weights + self_attention + cross + noise + pixels


def load_dalle_bart(name: str, device: str = "cpu") -> DalleBart:
    """`dalle-bart:DIR`: min-dalle's folder (or one of its model folders), on `device`."""
    files: Files = locate(name)
    encoder, decoder = read_state(files["encoder.pt"]), read_state(files["decoder.pt"])
    shape = bart_shape(encoder, decoder, files)
    tokenizer = BartTokenizer(files["vocab.json"], files["merges.txt"])
    _check_vocabulary(tokenizer, shape.text_vocab, files)
    side = round(shape.image_tokens**0.5)
    vqgan = load_detokenizer(files.detokenizer, files.image_encoder, side)
    n_codes = vqgan.codebook.shape[0]
    if n_codes >= shape.image_vocab or START >= shape.image_vocab:
        raise artengine.UsageError(f"'{files.detokenizer}' has {n_codes} codes, but decoder.pt has only "
                                   f"{shape.image_vocab} image tokens; the files belong to different models")
    with torch.device("meta"):
        lm = BartLM(shape, n_codes)
    load_checked(lm.encoder, encoder, files["encoder.pt"])
    load_checked(lm.decoder, decoder, files["decoder.pt"])
    return DalleBart(lm.to(device).eval().requires_grad_(False), tokenizer,
                     vqgan.to(device).eval().requires_grad_(False), files.model)


def _check_vocabulary(tokenizer: BartTokenizer, text_vocab: int, files: Files) -> None:
    largest = max(tokenizer.vocab.values())
    if largest >= text_vocab:
        raise artengine.UsageError(f"'{files['vocab.json']}' has token ids up to {largest}, but encoder.pt embeds "
                                   f"{text_vocab}; the vocabulary belongs to another model")
