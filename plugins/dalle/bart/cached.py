"""The BART decoder's forward for sampling: new tokens only, the caption read once.

It has the interface of the GPT-2 sampler's `CachedDecoder` (plugins/dalle/decoder.py), so
sampling.py's loops (eager, and fixed-shape steps replayed as CUDA graphs) drive it as they
are, over the same sequence layout: positions 0..T-1 are the caption, T the start token and
T+1.. the codes. Here the caption goes to the encoder instead of into the decoder's cache.

What makes it fast, against min-dalle's loop: the encoder runs once per caption, and each
layer's cross-attention keys and values are computed once from its states (min-dalle
computes them again at every token in every layer), without the padding positions; the
candidates of a caption meet those keys as one batch of queries. Self-attention reads a
static cache, only the part written so far in the eager loop (min-dalle attends over all
256 positions at every step). Projections that read the same input are fused (q, k and v;
the GLU's two inputs), weights are cast once and packed for oneDNN on a CPU (linear.py).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..decoder import cache_dtype, chunk_attention, step_attention
from ..linear import Linear
from .model import HEAD_WIDTH, PAD


class CachedBartDecoder:
    def __init__(self, lm, rows: int, dtype: torch.dtype | None = None):
        dtype = dtype or lm.embedding.dtype
        same = lm.embedding.dtype == dtype
        self.encoder = lm.encoder if same else copy.deepcopy(lm.encoder).to(dtype)
        self.decoder = lm.decoder if same else copy.deepcopy(lm.decoder).to(dtype)
        layout, shape = lm.layout, lm.shape
        self.T, self.width, self.heads = layout.text_length, shape.width, shape.heads
        self.code_position = self.T + 1  # sequence position of image code 0, as for the GPT-2 decoder
        device = lm.embedding.device
        scale = HEAD_WIDTH**-0.5  # attention's scale, folded into the query weights

        def linear(*weights):  # nn.Linear weights (out x in), fused along the outputs
            return Linear(torch.cat(weights).t(), None, rows)

        self.layers = []
        for layer in self.decoder.layers:
            attn, cross, glu = layer.self_attn, layer.encoder_attn, layer.glu
            self.layers.append({
                "qkv": linear(attn.q_proj.weight * scale, attn.k_proj.weight, attn.v_proj.weight),
                "out": linear(attn.out_proj.weight),
                "cross_q": linear(cross.q_proj.weight * scale),
                "cross_out": linear(cross.out_proj.weight),
                "glu_in": linear(glu.fc0.weight, glu.fc1.weight),
                "glu_out": linear(glu.fc2.weight),
            })
        self.head = linear(self.decoder.lm_head.weight[: layout.n_codes])  # only codes are ever sampled
        shape_ = (shape.layers, rows, self.heads, layout.image_tokens, HEAD_WIDTH)
        self.keys = torch.zeros(shape_, dtype=cache_dtype(device, dtype), device=device)
        self.values = torch.zeros_like(self.keys)
        self.cross: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        """Per layer, per caption: its cross-attention keys and values, heads x length x 64."""

    # -- the CachedDecoder interface ----------------------------------------------------------

    def __call__(self, tokens: torch.Tensor, start: int, repeats: int = 1) -> torch.Tensor:
        """Final hidden state at the last of `tokens` (rows x S, at sequence positions start..).

        From position 0, the first T tokens of each row are its caption: they are encoded, and
        the rest go to the decoder. `repeats` as in CachedDecoder: each row stands for that many
        consecutive cache rows (a caption's candidates), which share its keys and values.
        """
        if start == 0:
            self._encode(tokens[:, : self.T])
            tokens, start = tokens[:, self.T :], self.T
        rows, S = tokens.shape
        first = start - self.T  # the decoder's own position of tokens[:, 0]
        positions = torch.arange(first, first + S, device=tokens.device)
        h = self._embed(tokens, positions).view(rows * S, -1)

        h = self._layers(h, rows, S, chunk_attention(rows, S, first, repeats))
        last = self._norm(self.decoder.final_ln, h.view(rows, S, -1)[:, -1])
        return last if repeats == 1 else last.repeat_interleave(repeats, dim=0)

    def step(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """`self(tokens, position)` for one token per row, every shape fixed (CachedDecoder.step)."""
        position = position - self.T
        h = self._embed(tokens[:, 0], position)
        attend = step_attention(position, self.keys.shape[3])
        return self._norm(self.decoder.final_ln, self._layers(h, tokens.shape[0], 1, attend))

    def image_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden).float()

    # -- the pieces --------------------------------------------------------------------------

    def _encode(self, captions: torch.Tensor) -> None:
        """Each caption's cross-attention keys and values for every layer, padding left out
        (min-dalle masks those positions, so they carry no weight)."""
        states = self.encoder(captions)
        kept = captions.ne(PAD)
        self.cross = []
        for layer in self.decoder.layers:
            attn = layer.encoder_attn
            keys, values = attn.k_proj(states), attn.v_proj(states)
            self.cross.append([tuple(t[c, kept[c]].view(-1, self.heads, HEAD_WIDTH).transpose(0, 1)
                                     .to(self.keys.dtype).contiguous() for t in (keys, values))
                               for c in range(captions.shape[0])])

    def _embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        d = self.decoder
        return self._norm(d.layernorm_embedding, d.embed_tokens(tokens) + d.embed_positions(positions))

    def _cross(self, layer: int, q: torch.Tensor) -> torch.Tensor:
        """Cross-attention for queries (rows * S) x width, whose rows come in as many equal,
        consecutive groups as there are captions, each group reading its caption."""
        captions = self.cross[layer]
        q = q.view(len(captions), -1, self.heads, HEAD_WIDTH).transpose(1, 2).to(self.keys.dtype)
        out = torch.stack([(q[c] @ keys.transpose(-1, -2)).softmax(-1) @ values
                           for c, (keys, values) in enumerate(captions)])
        return out.transpose(1, 2).reshape(-1, self.width)

    def _layers(self, h: torch.Tensor, rows: int, S: int, attend) -> torch.Tensor:
        """The decoder layers over h (rows * S x width); `attend` as in CachedDecoder._blocks."""
        width, dtype = self.width, h.dtype
        for index, (layer, linear) in enumerate(zip(self.decoder.layers, self.layers)):
            keys, values = self.keys[index], self.values[index]
            q, k, v = (t.view(rows, S, self.heads, HEAD_WIDTH).transpose(1, 2)
                       for t in linear["qkv"](self._norm(layer.pre_self_attn_layer_norm, h)).split(width, dim=1))
            out = attend(keys, values, q.to(keys.dtype), k, v).transpose(1, 2).reshape(rows * S, width)
            h = h + self._norm(layer.self_attn_layer_norm, linear["out"](out.to(dtype)))
            q = linear["cross_q"](self._norm(layer.pre_encoder_attn_layer_norm, h))
            h = h + self._norm(layer.encoder_attn_layer_norm, linear["cross_out"](self._cross(index, q).to(dtype)))
            gate, value = linear["glu_in"](self._norm(layer.glu.ln0, h)).chunk(2, dim=1)
            h = h + linear["glu_out"](self._norm(layer.glu.ln1, F.gelu(gate) * value))
        return h

    @staticmethod
    def _norm(norm, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
