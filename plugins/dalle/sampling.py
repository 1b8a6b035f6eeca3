"""Fast batched sampling of image codes: a static KV cache over the GPT-2's own weights.

`transformers`' generate() and a loop over `past_key_values` spend most of each step on
per-token bookkeeping (cache objects, masks, logits over the whole vocabulary). Here each
block's keys and values go into tensors allocated once for the whole sequence, attention reads
the filled prefix, and only the image slice of the vocabulary is scored. The arithmetic is
GPT-2's (tests check the logits against the `transformers` forward pass).

Randomness: candidate i draws all of its Gumbel noise from a generator seeded with seeds[i]
alone, and a code is argmax(filtered logits / temperature + noise), which is an exact sample
of the filtered softmax. So a candidate does not depend on its batch neighbours.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .linear import Linear
from .model import DalleLM


@dataclass(frozen=True)
class Settings:
    temperature: float = 1.0
    """0 picks the most likely code (no randomness)."""
    top_k: int = 0
    """Keep the k most likely image codes; 0 keeps all."""
    top_p: float = 1.0
    """Keep the smallest set of image codes whose probability reaches p; 1 keeps all."""
    guidance: float = 1.0
    """Classifier-free guidance scale: uncond + g * (cond - uncond); 1 means off."""
    precision: str = "fp32"
    """Arithmetic of the transformer: fp32 or bf16 (the weights are cast once per call)."""

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0


def cache_dtype(device, dtype: torch.dtype) -> torch.dtype:
    """The key/value cache's dtype for weights in `dtype`. The cache and the attention stay
    float32 on a CPU: there, bf16 batched products of this size are slower than float32 ones
    (2.5x, measured), unlike the weight products."""
    return torch.float32 if torch.device(device).type == "cpu" else dtype


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
        # uninitialised: attention reads only the positions already written
        self.values = torch.empty(shape, dtype=cache_dtype(device, dtype), device=device)
        self.keys = torch.empty_like(self.values)

    def __call__(self, tokens: torch.Tensor, start: int, repeats: int = 1) -> torch.Tensor:
        """Final hidden state at the last of `tokens` (rows x S, at positions start..start+S-1).

        With `repeats` > 1, `tokens` holds rows / repeats distinct rows, each standing for
        `repeats` consecutive cache rows that share it (a caption and its candidates): the
        forward runs once per distinct row and its keys and values fill all of its rows.
        """
        rows, S = tokens.shape
        positions = torch.arange(start, start + S, device=tokens.device)
        h = (self.gpt.wte(tokens) + self.gpt.wpe(positions)).view(rows * S, -1)
        for layer, (block, linear) in enumerate(zip(self.gpt.h, self.layers)):
            h = h + self._attend(layer, linear, self._norm(block.ln_1, h), rows, start, S, repeats)
            h = h + linear["down"](linear["up"](self._norm(block.ln_2, h)))
        last = self._norm(self.gpt.ln_f, h.view(rows, S, -1)[:, -1])
        return last if repeats == 1 else last.repeat_interleave(repeats, dim=0)

    def image_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the image codes alone, as `DalleLM.image_logits`, in float32."""
        return self.codes(hidden).float()

    def _norm(self, norm, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, self.eps)

    def _attend(self, layer: int, linear: dict, x: torch.Tensor, rows: int, start: int, S: int,
                repeats: int) -> torch.Tensor:
        width = x.shape[-1]
        q, k, v = (t.view(rows, S, self.heads, self.head_dim).transpose(1, 2)
                   for t in linear["qkv"](x).split(width, dim=1))
        q = q.to(self.values.dtype)  # k and v are converted by the cache writes below
        end = start + S
        keys, values = self.keys[layer], self.values[layer]  # views: writes land in the cache
        keys.unflatten(0, (rows, repeats))[:, :, :, start:end] = k[:, None]
        values.unflatten(0, (rows, repeats))[:, :, :, start:end] = v[:, None]
        keys, values = keys[::repeats, :, :end], values[::repeats, :, :end]
        if S == 1:  # one query: two small products beat the fused kernel's setup cost
            weights = (q @ keys.transpose(-1, -2)).softmax(-1)
            out = weights @ values
        else:  # a chunk attends to the cache and causally to itself
            mask = torch.ones(S, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=1.0)
        out = out.transpose(1, 2).reshape(rows * S, width).to(x.dtype)
        return linear["out"](out)


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Logits with everything outside the top-k, then outside the top-p nucleus, set to -inf."""
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(logits, dim=-1, descending=True)
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # mass of the better codes
        drop = before >= top_p  # the most likely code always stays (its `before` is 0)
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def gumbel_noise(seeds: list[int], length: int, n_codes: int, device) -> torch.Tensor:
    """B x length x n_codes Gumbel noise; row i comes from a generator seeded with seeds[i] alone.

    The generator lives on `device` (no host-to-device copy of the noise), so the same seed
    gives the same candidate on the same kind of device."""
    device = torch.device(device)
    rows = []
    for seed in seeds:
        generator = torch.Generator(device=device).manual_seed(int(seed))
        uniform = torch.rand(length, n_codes, generator=generator, device=device).clamp_(1e-10, 1 - 1e-7)
        rows.append(-torch.log(-torch.log(uniform)))
    return torch.stack(rows)


def pick(logits: torch.Tensor, noise: torch.Tensor, settings: Settings) -> torch.Tensor:
    if settings.temperature == 0:
        return logits.argmax(-1)
    logits = filter_logits(logits / settings.temperature, settings.top_k, settings.top_p)
    return (logits + noise).argmax(-1)


@torch.no_grad()
def sample_codes(
    lm: DalleLM,
    text: torch.Tensor,
    null_text: torch.Tensor,
    seeds: list[int],
    settings: Settings,
    prime: torch.Tensor | None = None,
    on_token: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Codes B x N (0..n_codes-1) for the caption rows `text` (1 x T), one candidate per seed.

    `null_text` (1 x T) is the empty caption guidance contrasts with; `prime` (1 x P) holds the
    first P codes every candidate starts from. `on_token(i)` is called after each sampled code.
    """
    layout, device = lm.layout, lm.embedding.device
    B, N, T = len(seeds), layout.image_tokens, layout.text_length
    # the rows are B candidates of the caption, then (guided) B of the empty caption; all the
    # candidates of a caption share its prefix, so the prefix runs once per caption
    captions = torch.cat([text, null_text]) if settings.guided else text
    copies = captions.shape[0]
    decoder = CachedDecoder(lm, copies * B, torch.bfloat16 if settings.precision == "bf16" else torch.float32)
    codes = torch.zeros(B, N, dtype=torch.long, device=device)
    start = torch.full((copies, 1), layout.image_start, dtype=torch.long, device=device)
    hidden = decoder(torch.cat([captions, start], dim=1), 0, repeats=B)
    primed = 0 if prime is None else prime.shape[1]
    if primed:
        codes[:, :primed] = prime
        hidden = decoder((prime + layout.code_offset).expand(copies, -1), T + 1, repeats=B)
    noise = gumbel_noise(seeds, N, layout.n_codes, device)
    for i in range(primed, N):
        logits = decoder.image_logits(hidden)
        if settings.guided:
            cond, uncond = logits[:B], logits[B:]
            logits = uncond + settings.guidance * (cond - uncond)
        codes[:, i] = pick(logits, noise[:, i], settings)
        if i + 1 < N:
            hidden = decoder((codes[:, i : i + 1] + layout.code_offset).repeat(copies, 1), T + 1 + i)
        if on_token is not None:
            on_token(i)
    return codes
