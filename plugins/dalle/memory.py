"""How much memory a dalle request needs, estimated before it samples.

Candidates are sampled `batch_size` at a time (twice as many rows with guidance). What grows
with that batch: the key/value cache (2 x layers x rows x sequence length x width), the Gumbel
noise drawn up front for every code choice (batch x image tokens x codes), the first forward
over the caption, and the decoded pixels. In bf16 the cache halves (except on a CPU, where
the sampler keeps it in float32), and float32 weights get a bf16 copy while it samples.
"""

from __future__ import annotations

import torch

from .decoder import cache_dtype
from .generator import precision


def estimate_bytes(dalle, request) -> float:
    options, layout = request.options, dalle.layout
    batch = min(request.count, options["batch_size"])
    rows = batch * (2 if options["guidance"] != 1.0 else 1)
    dtype = torch.bfloat16 if precision(options["precision"], request.device) == "bf16" else torch.float32
    if hasattr(dalle, "estimate_bytes"):  # a model kind that counts its own (DALL·E Mini's: bart/bundle.py)
        return dalle.estimate_bytes(request, batch, rows, dtype, cache_dtype(request.device, dtype))
    config = dalle.lm.gpt.config
    value = dtype.itemsize
    weights = sum(p.numel() for p in dalle.lm.parameters()) * value if dalle.lm.embedding.element_size() != value else 0
    cached = cache_dtype(request.device, dtype).itemsize
    cache = 2 * config.n_layer * rows * layout.positions * config.n_embd * cached
    noise = batch * layout.image_tokens * layout.n_codes * 4
    prompt = rows * (layout.text_length + 1) * 4 * config.n_embd * 4 * 2  # MLP activations, twice
    width, height = dalle.image_size
    pixels = batch * 3 * width * height * 4 * 4  # float decode, its clamp, bytes and the PIL copy
    return weights + cache + noise + prompt + pixels
