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

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

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

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0


class CachedDecoder:
    """GPT-2 forward over new tokens only, keys and values kept in preallocated tensors.

    It calls the weights of `lm.gpt` directly (no module hooks, no dropout calls, a fused
    tanh-GELU, and plain matrix products for single-token attention): on a CPU these
    per-token costs are what separate a fast sampler from a loop over the `transformers` model.
    """

    def __init__(self, lm: DalleLM, rows: int, dtype: torch.dtype | None = None):
        self.gpt = lm.gpt.transformer
        config = self.gpt.config
        self.heads, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.eps = config.layer_norm_epsilon
        dtype = dtype or lm.embedding.dtype
        shape = (config.n_layer, rows, self.heads, lm.layout.positions, self.head_dim)
        self.values = torch.zeros(shape, dtype=dtype, device=lm.embedding.device)
        # keys are stored transposed (head_dim before position): a query's scores are then one
        # product with contiguous rows, and the cache slice still views as keys for SDPA
        self.keys = torch.zeros_like(self.values).transpose(-1, -2).contiguous()

    def __call__(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Final hidden state at the last of `tokens` (rows x S, at positions start..start+S-1)."""
        rows, S = tokens.shape
        positions = torch.arange(start, start + S, device=tokens.device)
        h = (self.gpt.wte(tokens) + self.gpt.wpe(positions)).view(rows * S, -1)
        for layer, block in enumerate(self.gpt.h):
            h = h + self._attend(layer, block, self._norm(block.ln_1, h), rows, start, S)
            mlp = block.mlp
            inner = F.gelu(torch.addmm(mlp.c_fc.bias, self._norm(block.ln_2, h), mlp.c_fc.weight), approximate="tanh")
            h = h + torch.addmm(mlp.c_proj.bias, inner, mlp.c_proj.weight)
        return self._norm(self.gpt.ln_f, h.view(rows, S, -1)[:, -1])

    def _norm(self, norm, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, self.eps)

    def _attend(self, layer: int, block, x: torch.Tensor, rows: int, start: int, S: int) -> torch.Tensor:
        attention = block.attn
        width = x.shape[-1]
        q, k, v = (t.view(rows, S, self.heads, self.head_dim).transpose(1, 2)
                   for t in torch.addmm(attention.c_attn.bias, x, attention.c_attn.weight).split(width, dim=1))
        end = start + S
        self.keys[layer, :, :, :, start:end] = k.transpose(-1, -2)
        self.values[layer, :, :, start:end] = v
        keys_t, values = self.keys[layer, :, :, :, :end], self.values[layer, :, :, :end]
        if S == 1:  # one query: two small products beat the fused kernel's setup cost
            weights = (q @ keys_t).mul_(self.head_dim**-0.5).softmax(-1)
            out = weights.to(values.dtype) @ values
        else:  # a chunk attends to the cache and causally to itself
            mask = torch.ones(S, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
            out = F.scaled_dot_product_attention(q, keys_t.transpose(-1, -2), values, attn_mask=mask)
        out = out.transpose(1, 2).reshape(rows * S, width)
        return torch.addmm(attention.c_proj.bias, out, attention.c_proj.weight)


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
    texts = [text.expand(B, -1)] + ([null_text.expand(B, -1)] if settings.guided else [])
    rows = torch.cat(texts)
    copies = len(texts)
    autocast = device.type == "cuda"
    decoder = CachedDecoder(lm, rows.shape[0], torch.bfloat16 if autocast else None)
    codes = torch.zeros(B, N, dtype=torch.long, device=device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        start = torch.full((rows.shape[0], 1), layout.image_start, dtype=torch.long, device=device)
        hidden = decoder(torch.cat([rows, start], dim=1), 0)
        primed = 0 if prime is None else prime.shape[1]
        if primed:
            codes[:, :primed] = prime
            hidden = decoder((prime + layout.code_offset).expand(rows.shape[0], -1), T + 1)
        noise = gumbel_noise(seeds, N, layout.n_codes, device)
        for i in range(primed, N):
            logits = lm.image_logits(hidden).float()
            if settings.guided:
                cond, uncond = logits[:B], logits[B:]
                logits = uncond + settings.guidance * (cond - uncond)
            codes[:, i] = pick(logits, noise[:, i], settings)
            if i + 1 < N:
                hidden = decoder((codes[:, i : i + 1] + layout.code_offset).repeat(copies, 1), T + 1 + i)
            if on_token is not None:
                on_token(i)
    return codes
