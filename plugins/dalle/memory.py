"""How much memory a dalle request needs, estimated before it samples.

Code maps (a candidate's, or each tile's of a grid) are sampled `batch_size` at a time (twice
as many rows with guidance). What grows with that batch: the key/value cache (2 x layers x
rows x sequence length x width), the Gumbel noise drawn up front for every code choice (batch
x image tokens x codes), the first forward over the caption, and the decoded pixels. In bf16
the cache halves (except on a CPU, where the sampler keeps it in float32), and float32 weights
get a bf16 copy while it samples. A seamless grid then decodes all its tiles' codes as one map
(`joined_decode_bytes`).
"""

from __future__ import annotations

import torch

from .decoder import cache_dtype
from .generator import precision


def estimate_bytes(dalle, request) -> float:
    return sampling_bytes(dalle, request) + joined_decode_bytes(dalle, request.options)


def sampling_bytes(dalle, request) -> float:
    options, layout = request.options, dalle.layout
    batch = min(request.count * options["grid"] ** 2, options["batch_size"])
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


def joined_decode_bytes(dalle, options) -> float:
    """A seamless grid's one pass over its joined map: the VQGAN's widest activations (its last
    channels at the picture's full size, a few alive at once) grow with the grid's area, and
    its attention at the lowest resolution (a score per pair of positions: scores, their
    scaled copy and softmax) with the square of that area; at grid 8 those scores alone take
    about 3 GB for a 16 x 16-code model."""
    grid = options["grid"]
    if not options["seamless"] or grid == 1:
        return 0.0
    conv_out = getattr(getattr(dalle.vqgan, "decoder", None), "conv_out", None)
    channels = conv_out.in_channels if conv_out is not None else 3  # a VQGAN without taming's decoder
    width, height = dalle.image_size
    positions = grid**2 * dalle.layout.image_tokens
    return 4 * channels * grid**2 * width * height * 4 + 3 * positions**2 * 4
