"""DALL·E Mini/Mega's BART: a text encoder and an image-code decoder, as `torch` modules.

The parameters carry the names of min-dalle's converted files (encoder.pt, decoder.pt), so a
state dict loads as it is. The forward passes here are the plain, uncached ones (the whole
sequence at once): the reference the sampler's cached decoder (cached.py) is tested against,
and what tests compare with min-dalle.

Both halves are pre-norm transformers with an extra norm after each attention ("sandwich"
norms), bias-free projections, and a GLU feed-forward: fc2(norm(gelu(fc0 x) * fc1 x)).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

PAD = 1
"""The text padding id; min-dalle pads with 1 and masks exactly those positions."""
HEAD_WIDTH = 64
"""Both published models use heads 64 wide (Mini 16 x 64, Mega 32 x 64); the files do not
record the head count, so it is width / 64."""


@dataclass(frozen=True)
class BartShape:
    """Sizes, all read from the tensors' shapes (folder.py)."""

    layers: int
    width: int
    glu: int
    text_vocab: int
    text_length: int
    image_vocab: int
    """Rows of the decoder's embedding and output, the start token included."""
    image_tokens: int

    @property
    def heads(self) -> int:
        return self.width // HEAD_WIDTH

    @property
    def variant(self) -> str:
        """'mini', 'mega', or 'custom' for any other size (random test models, say)."""
        known = {(12, 1024, 2730, 50264, 16385): "mini", (24, 2048, 4096, 50272, 16416): "mega"}
        return known.get((self.layers, self.width, self.glu, self.text_vocab, self.image_vocab), "custom")

    def as_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.out_proj = nn.Linear(width, width, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """queries B x S x width read keys B x K x width; mask (broadcast to B x 1 x S x K) is
        True where a query may look."""
        heads = queries.shape[-1] // HEAD_WIDTH

        def split(x):
            return x.unflatten(-1, (heads, HEAD_WIDTH)).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q_proj(queries)), split(self.k_proj(keys)),
                                             split(self.v_proj(keys)), attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class GLU(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.ln0 = nn.LayerNorm(width)
        self.fc0 = nn.Linear(width, hidden, bias=False)
        self.fc1 = nn.Linear(width, hidden, bias=False)
        self.ln1 = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln0(x)
        return self.fc2(self.ln1(F.gelu(self.fc0(x)) * self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, shape: BartShape):
        super().__init__()
        self.pre_self_attn_layer_norm = nn.LayerNorm(shape.width)
        self.self_attn = Attention(shape.width)
        self.self_attn_layer_norm = nn.LayerNorm(shape.width)
        self.glu = GLU(shape.width, shape.glu)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.pre_self_attn_layer_norm(h)
        h = h + self.self_attn_layer_norm(self.self_attn(x, x, mask))
        return h + self.glu(h)


class DecoderLayer(nn.Module):
    def __init__(self, shape: BartShape):
        super().__init__()
        self.pre_self_attn_layer_norm = nn.LayerNorm(shape.width)
        self.self_attn = Attention(shape.width)
        self.self_attn_layer_norm = nn.LayerNorm(shape.width)
        self.pre_encoder_attn_layer_norm = nn.LayerNorm(shape.width)
        self.encoder_attn = Attention(shape.width)
        self.encoder_attn_layer_norm = nn.LayerNorm(shape.width)
        self.glu = GLU(shape.width, shape.glu)

    def forward(self, h, causal, text, text_mask):
        x = self.pre_self_attn_layer_norm(h)
        h = h + self.self_attn_layer_norm(self.self_attn(x, x, causal))
        h = h + self.encoder_attn_layer_norm(self.encoder_attn(self.pre_encoder_attn_layer_norm(h), text, text_mask))
        return h + self.glu(h)


class BartEncoder(nn.Module):
    """Caption tokens B x text_length -> states B x text_length x width."""

    def __init__(self, shape: BartShape):
        super().__init__()
        self.embed_tokens = nn.Embedding(shape.text_vocab, shape.width)
        self.embed_positions = nn.Embedding(shape.text_length, shape.width)
        self.layernorm_embedding = nn.LayerNorm(shape.width)
        self.layers = nn.ModuleList(EncoderLayer(shape) for _ in range(shape.layers))
        self.final_ln = nn.LayerNorm(shape.width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = self.layernorm_embedding(self.embed_tokens(tokens) + self.embed_positions(positions))
        mask = text_mask(tokens)
        for layer in self.layers:
            h = layer(h, mask)
        return self.final_ln(h)


class BartDecoder(nn.Module):
    """Image tokens (the start token, then codes) -> logits over the image vocabulary."""

    def __init__(self, shape: BartShape):
        super().__init__()
        self.embed_tokens = nn.Embedding(shape.image_vocab, shape.width)
        self.embed_positions = nn.Embedding(shape.image_tokens, shape.width)
        self.layernorm_embedding = nn.LayerNorm(shape.width)
        self.layers = nn.ModuleList(DecoderLayer(shape) for _ in range(shape.layers))
        self.final_ln = nn.LayerNorm(shape.width)
        self.lm_head = nn.Linear(shape.width, shape.image_vocab, bias=False)

    def forward(self, tokens: torch.Tensor, text_states: torch.Tensor, text_tokens: torch.Tensor) -> torch.Tensor:
        """Logits B x S x image_vocab for tokens B x S at positions 0..S-1 (teacher forcing)."""
        S = tokens.shape[1]
        positions = torch.arange(S, device=tokens.device)
        h = self.layernorm_embedding(self.embed_tokens(tokens) + self.embed_positions(positions))
        causal = torch.ones(S, S, dtype=torch.bool, device=tokens.device).tril()
        mask = text_mask(text_tokens)
        for layer in self.layers:
            h = layer(h, causal, text_states, mask)
        return self.lm_head(self.final_ln(h))


def text_mask(tokens: torch.Tensor) -> torch.Tensor:
    """B x 1 x 1 x T: True at the caption's positions, False at padding."""
    return tokens.ne(PAD)[:, None, None, :]


START = 2**14 - 1
"""The token min-dalle feeds the decoder first, at position 0."""


@dataclass(frozen=True)
class BartLayout:
    """The sequence as the dalle sampler sees it (the names of plugins/dalle/layout.py's Layout):
    positions 0..text_length-1 hold the caption (read by the encoder), then the start token,
    then the codes. Codes are the decoder's own token ids (no offset)."""

    text_length: int
    n_codes: int
    rows: int
    cols: int
    code_offset: int = 0
    image_start: int = START

    @property
    def image_tokens(self) -> int:
        return self.rows * self.cols

    @property
    def positions(self) -> int:
        return self.text_length + self.image_tokens


class BartLM(nn.Module):
    """The encoder and the decoder together, as the dalle sampler takes a model."""

    def __init__(self, shape: BartShape, n_codes: int):
        super().__init__()
        side = round(shape.image_tokens**0.5)
        self.shape, self.layout = shape, BartLayout(shape.text_length, n_codes, side, side)
        self.encoder = BartEncoder(shape)
        self.decoder = BartDecoder(shape)

    @property
    def embedding(self) -> torch.Tensor:
        """A parameter that tells the device and dtype (what the sampler reads it for)."""
        return self.decoder.embed_tokens.weight

    def cached_decoder(self, rows: int, dtype: torch.dtype | None = None):
        from .cached import CachedBartDecoder

        return CachedBartDecoder(self, rows, dtype)

    def forward(self, text: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Logits B x N x n_codes of every code given the ones before it (teacher forcing):
        the uncached reference the sampler is tested against."""
        start = torch.full((codes.shape[0], 1), START, dtype=torch.long, device=codes.device)
        tokens = torch.cat([start, codes[:, :-1]], dim=1)
        return self.decoder(tokens, self.encoder(text), text)[..., : self.layout.n_codes]
