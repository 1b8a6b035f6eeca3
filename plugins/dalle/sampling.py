"""Fast batched sampling of image codes over the cached decoder (decoder.py).

Two loops over the tokens draw the same codes. The eager loop runs each step at its own
length (attention reads just the filled part of the cache): fastest where every kernel runs
as it is called, as on a CPU. The graph loop keeps every shape fixed, so on CUDA one token's
step is captured once as a CUDA graph and replayed (graphs.py): a step of a large model is
hundreds of small kernels, and launching them one by one from Python, not the GPU, would
bound its speed.

Randomness: candidate i draws all of its Gumbel noise from a generator seeded with seeds[i]
alone, and a code is argmax(filtered logits / temperature + noise), which is an exact sample
of the filtered softmax. So a candidate does not depend on its batch neighbours.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from .graphs import CaptureFailed, run_steps
from .model import DalleLM


@dataclass(frozen=True)
class SamplingSettings:
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
    loop: str = "auto"
    """auto: the graph loop on CUDA, the eager one elsewhere; or eager; or graph (on a CPU it
    runs the same fixed-shape steps without capturing them, which tests use)."""

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0


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


def pick(logits: torch.Tensor, noise: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
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
    settings: SamplingSettings,
    prime: torch.Tensor | None = None,
    on_token: Callable[[int], None] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Codes B x N (0..n_codes-1) for the caption rows `text` (1 x T), one candidate per seed.

    `null_text` (1 x T) is the empty caption guidance contrasts with; `prime` (1 x P) holds the
    first P codes every candidate starts from. `on_token(i)` is called after each sampled code.
    `out` (B x N, long, on the model's device), if given, receives the codes as they are drawn,
    so `on_token` can look at the rows so far (previews).

    `lm` is any model kind with `layout`, `embedding` (a parameter: device and dtype) and
    `cached_decoder(rows, dtype)` (decoder.py's CachedDecoder, or DALL·E Mini's in bart/).
    """
    on_cuda = lm.embedding.device.type == "cuda"
    graph = settings.loop == "graph" or (settings.loop == "auto" and on_cuda)
    if graph and on_cuda:
        try:
            return _sample(lm, text, null_text, seeds, settings, prime, on_token, graph_loop, out=out)
        except CaptureFailed as error:  # the same seeds give the same codes eagerly: start again
            warnings.warn(f"dalle: CUDA graph capture failed ({error}); sampling eagerly instead "
                          "(generator.cuda_graphs=false skips the attempt)", stacklevel=2)
            graph = False
    return _sample(lm, text, null_text, seeds, settings, prime, on_token, graph_loop if graph else eager_loop, out=out)


def _sample(lm, text, null_text, seeds, settings, prime, on_token, loop, out=None) -> torch.Tensor:
    """`sample_codes` with the given loop over the tokens after the prefix (and the primed codes)."""
    layout, device = lm.layout, lm.embedding.device
    B, N, T = len(seeds), layout.image_tokens, layout.text_length
    # the rows are B candidates of the caption, then (guided) B of the empty caption; all the
    # candidates of a caption share its prefix, so the prefix runs once per caption
    captions = torch.cat([text, null_text]) if settings.guided else text
    copies = captions.shape[0]
    decoder = lm.cached_decoder(copies * B, torch.bfloat16 if settings.precision == "bf16" else torch.float32)
    codes = out.zero_() if out is not None else torch.zeros(B, N, dtype=torch.long, device=device)
    start = torch.full((copies, 1), layout.image_start, dtype=torch.long, device=device)
    hidden = decoder(torch.cat([captions, start], dim=1), 0, repeats=B)
    primed = 0 if prime is None else prime.shape[1]
    if primed:
        codes[:, :primed] = prime
        hidden = decoder((prime + layout.code_offset).expand(copies, -1), T + 1, repeats=B)
    noise = gumbel_noise(seeds, N, layout.n_codes, device)
    on_token = on_token or (lambda i: None)

    def choose(hidden: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        logits = decoder.image_logits(hidden)
        if settings.guided:
            cond, uncond = logits[:B], logits[B:]
            logits = uncond + settings.guidance * (cond - uncond)
        return pick(logits, noise, settings)

    def next_rows(picked: torch.Tensor) -> torch.Tensor:
        """The tokens every row reads next: each candidate's code, for its conditional and
        (guided) unconditional row."""
        return (picked[:, None] + layout.code_offset).repeat(copies, 1)

    loop(decoder, choose, next_rows, codes, hidden, noise, primed, on_token)
    return codes


def eager_loop(decoder, choose, next_rows, codes, hidden, noise, first, on_token) -> None:
    """Codes first..N-1 into `codes`, each step at its own length."""
    N = codes.shape[1]
    for i in range(first, N):
        codes[:, i] = choose(hidden, noise[:, i])
        if i + 1 < N:
            hidden = decoder(next_rows(codes[:, i]), decoder.code_position + i)
        on_token(i)


def graph_loop(decoder, choose, next_rows, codes, hidden, noise, first, on_token) -> None:
    """The eager loop's codes from fixed-shape steps that read the token index from the device."""
    N = codes.shape[1]
    hidden = hidden.clone()  # the steps' input and output, in place
    index = torch.tensor([first], device=codes.device)

    def step() -> None:
        picked = choose(hidden, noise.index_select(1, index)[:, 0])
        codes.index_copy_(1, index, picked[:, None])
        hidden.copy_(decoder.step(next_rows(picked), index + decoder.code_position))
        index.add_(1)

    # every code but the last is followed by a step; the last needs no forward after it
    run_steps(step, N - 1 - first, lambda k: on_token(first + k), graph=codes.device.type == "cuda")
    codes[:, N - 1] = choose(hidden, noise[:, N - 1])
    on_token(N - 1)
