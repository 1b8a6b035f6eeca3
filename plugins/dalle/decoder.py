"""The GPT-2 forward for sampling: new tokens only, keys and values kept in a static cache.

`transformers`' generate() and a loop over `past_key_values` spend most of each step on
per-token bookkeeping (cache objects, masks, logits over the whole vocabulary). Here each
block's keys and values go into tensors allocated once for the whole sequence, and only the
image slice of the vocabulary is scored. The arithmetic is GPT-2's (tests check the logits
against the `transformers` forward pass).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .linear import Linear
from .model import DalleLM


def cache_dtype(device, dtype: torch.dtype) -> torch.dtype:
    """The key/value cache's dtype for weights in `dtype`. The cache and the attention stay
    float32 on a CPU: there, bf16 batched products of this size are slower than float32 ones
    (2.5x, measured), unlike the weight products."""
    return torch.float32 if torch.device(device).type == "cpu" else dtype


def chunk_attention(rows: int, S: int, start: int, repeats: int = 1):
    """`attend(keys, values, q, k, v)` for S new tokens per row at positions start..start+S-1:
    writes k and v into the cache (each row into its `repeats` cache rows) and attends over
    the cache so far. Shared by the GPT-2 and BART decoders' eager forward."""
    end = start + S

    def attend(keys, values, q, k, v):
        keys.unflatten(0, (rows, repeats))[:, :, :, start:end] = k[:, None]  # k, v converted by the writes
        values.unflatten(0, (rows, repeats))[:, :, :, start:end] = v[:, None]
        keys, values = keys[::repeats, :, :end], values[::repeats, :, :end]
        if S == 1:  # one query: two small products beat the fused kernel's setup cost
            return (q @ keys.transpose(-1, -2)).softmax(-1) @ values
        # a chunk attends to the cache and causally to itself
        mask = torch.ones(S, end, dtype=torch.bool, device=q.device).tril(diagonal=start)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=1.0)

    return attend


def step_attention(position: torch.Tensor, capacity: int):
    """`attend` for one token per row at `position` (a one-element tensor on the device): no
    shape depends on the position, so a step can be captured as a CUDA graph. The whole cache
    of `capacity` positions is read, those not yet written masked out."""
    visible = (torch.arange(capacity, device=position.device) <= position)[None]  # 1 query x keys

    def attend(keys, values, q, k, v):
        keys.index_copy_(2, position, k.to(keys.dtype))
        values.index_copy_(2, position, v.to(values.dtype))
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=visible, scale=1.0)

    return attend


class CachedDecoder:
    """GPT-2 forward over new tokens only, keys and values kept in preallocated tensors.

    It calls the weights of `lm.gpt` directly (no module hooks, no dropout calls, weights
    packed once with the GELU fused in, see linear.py, and plain matrix products for
    single-token attention): on a CPU these per-token costs are what separate a fast sampler
    from a loop over the `transformers` model.
    """

    def __init__(self, lm: DalleLM, rows: int, dtype: torch.dtype | None = None):
        dtype = dtype or lm.embedding.dtype
        transformer = lm.gpt.transformer
        # weights in another dtype are cast once here, not at every token as autocast would
        self.gpt = transformer if lm.embedding.dtype == dtype else copy.deepcopy(transformer).to(dtype)
        codes = self.gpt.wte.weight[lm.layout.code_offset : lm.layout.image_start]  # tied output rows
        self.codes = Linear(codes.t(), None, rows)
        config, device = self.gpt.config, lm.embedding.device
        self.heads, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.code_position = lm.layout.text_length + 1  # where image code 0 sits in the sequence
        # attention's 1 / sqrt(head_dim) is folded into the query weights: one product less per step
        scale = torch.ones(3 * config.n_embd, dtype=dtype, device=device)
        scale[: config.n_embd] = self.head_dim**-0.5
        self.layers = [{"qkv": Linear(block.attn.c_attn.weight * scale, block.attn.c_attn.bias * scale, rows),
                        "out": Linear(block.attn.c_proj.weight, block.attn.c_proj.bias, rows),
                        "up": Linear(block.mlp.c_fc.weight, block.mlp.c_fc.bias, rows, gelu=True),
                        "down": Linear(block.mlp.c_proj.weight, block.mlp.c_proj.bias, rows)}
                       for block in self.gpt.h]
        self.eps = config.layer_norm_epsilon
        shape = (config.n_layer, rows, self.heads, lm.layout.positions, self.head_dim)
        # zeroed: `step` reads every position, masked, and masked garbage could still be NaN (0 * NaN)
        self.values = torch.zeros(shape, dtype=cache_dtype(device, dtype), device=device)
        self.keys = torch.zeros_like(self.values)

    def __call__(self, tokens: torch.Tensor, start: int, repeats: int = 1) -> torch.Tensor:
        """Final hidden state at the last of `tokens` (rows x S, at positions start..start+S-1).

        With `repeats` > 1, `tokens` holds rows / repeats distinct rows, each standing for
        `repeats` consecutive cache rows that share it (a caption and its candidates): the
        forward runs once per distinct row and its keys and values fill all of its rows.
        """
        rows, S = tokens.shape
        positions = torch.arange(start, start + S, device=tokens.device)
        h = (self.gpt.wte(tokens) + self.gpt.wpe(positions)).view(rows * S, -1)

        h = self._blocks(h, rows, S, chunk_attention(rows, S, start, repeats))
        last = self._norm(self.gpt.ln_f, h.view(rows, S, -1)[:, -1])
        return last if repeats == 1 else last.repeat_interleave(repeats, dim=0)

    def step(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """`self(tokens, position)` for one token per row (rows x 1), with the position held in a
        one-element tensor on the device.

        No shape depends on the position: attention reads the whole cache with the positions
        not yet written masked out. So the same kernels run at every token, and one token's
        step can be captured as a CUDA graph and replayed (graphs.py).
        """
        h = self.gpt.wte(tokens[:, 0]) + self.gpt.wpe(position)
        attend = step_attention(position, self.keys.shape[3])
        return self._norm(self.gpt.ln_f, self._blocks(h, tokens.shape[0], 1, attend))

    def image_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the image codes alone, as `DalleLM.image_logits`, in float32."""
        return self.codes(hidden).float()

    def _blocks(self, h: torch.Tensor, rows: int, S: int, attend) -> torch.Tensor:
        """The transformer blocks over hidden states h (rows * S x width). `attend(keys, values,
        q, k, v)` writes the layer's cache (`keys`, `values`: rows x heads x positions x
        head_dim) and attends; q, k, v and its result are rows x heads x S x head_dim."""
        width = h.shape[-1]
        for layer, (block, linear) in enumerate(zip(self.gpt.h, self.layers)):
            keys, values = self.keys[layer], self.values[layer]  # views: writes land in the cache
            q, k, v = (t.view(rows, S, self.heads, self.head_dim).transpose(1, 2)
                       for t in linear["qkv"](self._norm(block.ln_1, h)).split(width, dim=1))
            out = attend(keys, values, q.to(keys.dtype), k, v)
            h = h + linear["out"](out.transpose(1, 2).reshape(rows * S, width).to(h.dtype))
            h = h + linear["down"](linear["up"](self._norm(block.ln_2, h)))
        return h

    def _norm(self, norm, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, self.eps)
