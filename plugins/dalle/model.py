"""The transformer: a `transformers` GPT-2 reading caption tokens, then writing image codes.

Logits are computed against the tied embedding table one vocabulary slice at a time, so text
positions only ever score text tokens and image positions only image codes (the loss matches
what sampling can produce).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layout import BOS, EOS, PAD, Layout


@dataclass(frozen=True)
class Shape:
    """How big the transformer is."""

    layers: int = 4
    width: int = 256
    heads: int = 8
    dropout: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def gpt2_config(layout: Layout, shape: Shape):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=layout.vocab_size,
        n_positions=layout.positions,
        n_embd=shape.width,
        n_layer=shape.layers,
        n_head=shape.heads,
        resid_pdrop=shape.dropout,
        embd_pdrop=shape.dropout,
        attn_pdrop=shape.dropout,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        tie_word_embeddings=True,
    )


class DalleLM(nn.Module):
    """GPT-2 over the joint vocabulary; `forward(text, codes)` gives the two training losses."""

    def __init__(self, layout: Layout, shape: Shape):
        super().__init__()
        from transformers import GPT2LMHeadModel

        if shape.width % shape.heads:
            raise ValueError(f"width {shape.width} is not a multiple of heads {shape.heads}")
        self.layout, self.shape = layout, shape
        self.gpt = GPT2LMHeadModel(gpt2_config(layout, shape))

    @property
    def embedding(self) -> torch.Tensor:
        """The token embedding table, which is also the output projection (tied)."""
        return self.gpt.transformer.wte.weight

    def cached_decoder(self, rows: int, dtype: torch.dtype | None = None):
        """The sampler's forward over new tokens only, with a static key/value cache (decoder.py)."""
        from .decoder import CachedDecoder

        return CachedDecoder(self, rows, dtype)

    def image_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the image codes alone (index c is code c), from final hidden states."""
        layout = self.layout
        return hidden @ self.embedding[layout.code_offset : layout.image_start].t()

    def text_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embedding[: self.layout.text_vocab].t()

    def tokens(self, text: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The full sequence B x (text_length + 1 + N): text, <image>, codes shifted into the vocabulary."""
        start = torch.full((text.shape[0], 1), self.layout.image_start, dtype=torch.long, device=text.device)
        return torch.cat([text, start, codes.flatten(1) + self.layout.code_offset], dim=1)

    def forward(self, text: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(text loss, image loss): next-token cross-entropies, text ignoring [PAD] targets."""
        T = self.layout.text_length
        tokens = self.tokens(text, codes)
        hidden = self.gpt.transformer(input_ids=tokens[:, :-1]).last_hidden_state
        text_logits = self.text_logits(hidden[:, : T - 1])  # positions 0..T-2 predict text 1..T-1
        text_loss = F.cross_entropy(text_logits.flatten(0, 1).float(), text[:, 1:].flatten(), ignore_index=PAD)
        image_logits = self.image_logits(hidden[:, T:])  # <image> and codes predict the codes
        image_loss = F.cross_entropy(image_logits.flatten(0, 1).float(), codes.flatten())
        return text_loss, image_loss


def weighted_loss(text_loss: torch.Tensor, image_loss: torch.Tensor, weights: tuple[float, float]) -> torch.Tensor:
    """text:image weighting as in DALL-E (1:7 there), normalised so the weights' scale does not matter."""
    text_weight, image_weight = weights
    return (text_weight * text_loss + image_weight * image_loss) / (text_weight + image_weight)
