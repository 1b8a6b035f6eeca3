"""Benchmark: what decoding dalle candidates in fixed chunks (batch-invariant, so `reproduce` is
exact) costs next to decoding the batch at once, and next to sampling the batch's codes.

The dalle generator decodes codes DECODE_CHUNK images at a time, the last chunk filled up: a
VQGAN convolution over another number of images can round differently, which moved a
reproduced candidate by one pixel level. This prints, for dalle:shapes on the CPU (or
--device), the median seconds of sampling a batch's codes, of decoding the batch in one call
(as before), in chunks (as now) and image by image, and the paired ratios (rounds interleave
the methods, so machine load cancels in each ratio).

    python benchmarks/dalle_decode.py            # batch 16, 5 rounds
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dalle:shapes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import torch

    import artengine
    from artengine import discovery
    from artengine.plugins.dalle.generator import precision, to_images
    from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes

    discovery.host.load()
    dalle = artengine.load_model(args.model, args.device)
    layout, seeds = dalle.layout, list(range(args.batch))
    settings = SamplingSettings(precision=precision("auto", args.device))
    text, null = dalle.text(["a large red circle on the left"]), dalle.text([""])

    def batched(codes):  # the former `to_images`: the whole batch decoded in one call
        from PIL import Image

        with torch.no_grad():
            pixels = dalle.vqgan.decode(codes.view(-1, layout.rows, layout.cols)).clamp(0, 1)
        array = (pixels * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(a, "RGB") for a in array]

    def alone(codes):  # one image per call: also batch-invariant, but a call of one costs as much as a chunk
        return [to_images(dalle.vqgan, row[None], layout.rows, layout.cols) for row in codes]

    rounds: dict[str, list[float]] = {"sample": [], "decode_batch": [], "decode_chunked": [], "decode_alone": []}
    codes = sample_codes(dalle.lm, text, null, seeds, settings)  # warm-up
    for _ in range(args.rounds):
        for name, run in (("sample", lambda: sample_codes(dalle.lm, text, null, seeds, settings)),
                          ("decode_batch", lambda: batched(codes)),
                          ("decode_chunked", lambda: to_images(dalle.vqgan, codes, layout.rows, layout.cols)),
                          ("decode_alone", lambda: alone(codes))):
            started = time.perf_counter()
            run()
            rounds[name].append(time.perf_counter() - started)
    report = {
        "model": args.model, "device": args.device, "batch": args.batch, "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "seconds": {name: round(statistics.median(values), 4) for name, values in rounds.items()},
        # the fastest round of each: on a shared machine, the one least slowed by other work
        "fastest_seconds": {name: round(min(values), 4) for name, values in rounds.items()},
        "decode_chunked_over_batch": round(paired_ratio(rounds["decode_chunked"], rounds["decode_batch"]), 2),
        "decode_alone_over_batch": round(paired_ratio(rounds["decode_alone"], rounds["decode_batch"]), 2),
        "sample_and_decode_chunked_over_batch": round(paired_ratio(
            [s + a for s, a in zip(rounds["sample"], rounds["decode_chunked"])],
            [s + b for s, b in zip(rounds["sample"], rounds["decode_batch"])]), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
