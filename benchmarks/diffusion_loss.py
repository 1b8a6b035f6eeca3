"""The cost of the `diffusion` loss: vqgan-clip's time per step with it against without it.

    python benchmarks/diffusion_loss.py [--rounds 5] [--steps 30] [--device cpu]

Each round runs one request of each (64x64, one candidate, the defaults otherwise) side by side,
so the machine's load cancels in the round's ratio; prints one JSON document with the seconds
per step of each and the median ratio. Fidelity is `artengine eval shapes -g vqgan-clip`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)


def seconds_per_step(diffusion_weight: float, steps: int, device: str) -> float:
    from artengine import Request, get_registry, parse_prompt, resolve_options

    cls = get_registry().get("generator", "vqgan-clip")
    options = resolve_options(cls.options, {"steps": steps, "diffusion_weight": diffusion_weight}, "generator")
    request = Request(parse_prompt("a yellow triangle"), (0,), (64, 64), device, options)
    started = time.perf_counter()
    candidate = cls(options, device).generate(request, lambda *args, **kwargs: None)[0]
    assert ("diffusion" in candidate.metadata["losses"]) == (diffusion_weight > 0)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    timings = {"with": [], "without": []}
    for _ in range(args.rounds + 1):  # the first round warms up (loads the models)
        timings["with"].append(seconds_per_step(1.0, args.steps, args.device))
        timings["without"].append(seconds_per_step(0.0, args.steps, args.device))
    with_loss, without = timings["with"][1:], timings["without"][1:]
    print(json.dumps({"device": args.device, "steps": args.steps,
                      "with_diffusion_s_per_step": [round(t, 4) for t in with_loss],
                      "without_s_per_step": [round(t, 4) for t in without],
                      "with_over_without": round(paired_ratio(with_loss, without), 3)}, indent=2))


if __name__ == "__main__":
    main()
