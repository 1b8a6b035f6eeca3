"""Running the sampler's per-token step many times, on CUDA as one captured graph.

On CUDA a step is captured once, after a few eager steps on a side stream (so that cuBLAS and
the allocator set themselves up outside the capture), and then replayed: one launch per token
instead of hundreds. The step must keep every shape fixed and read anything that changes
from one token to the next (the token index) from device tensors, and it must not sync with
the host; `CachedDecoder.step` and sampling.py's graph loop are written that way.
"""

from __future__ import annotations

from typing import Callable

WARMUP = 2
"""Eager steps before the capture; they are real steps of the loop."""


class CaptureFailed(RuntimeError):
    """The step could not be captured as a CUDA graph (the warm-up steps before it did run)."""


def run_steps(step: Callable[[], None], count: int, after: Callable[[int], None], graph: bool) -> None:
    """Call `step` `count` times and `after(k)` after the k-th; with `graph` (CUDA only), all
    but the first WARMUP calls are replays of one captured CUDA graph."""
    if not graph or count <= WARMUP:
        for k in range(count):
            step()
            after(k)
        return
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for k in range(WARMUP):
            step()
            after(k)
    torch.cuda.current_stream().wait_stream(side)
    captured = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(captured):
            step()
    except RuntimeError as error:
        raise CaptureFailed(str(error).splitlines()[0] if str(error) else type(error).__name__) from error
    for k in range(WARMUP, count):
        captured.replay()
        after(k)
