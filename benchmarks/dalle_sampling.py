"""Benchmark: artengine's dalle sampler vs a past_key_values loop, an uncached loop and generate().

Every method samples the same number of image codes for a batch of candidates from the same
weights, in the same precision, on the same device (temperature 1, image codes only, no
guidance unless named), so the ratios compare like with like. The precision is the one the
dalle generator picks by default there (bf16 where the hardware has it), or --precision.
Timings interleave the methods round by round in one process; the memory each adds at its
peak is measured in a fresh process per method. On CUDA, `artengine_eager` also times
artengine's sampler without CUDA graphs.

    python benchmarks/dalle_sampling.py                      # CPU: dalle:shapes, batch 16
    python benchmarks/dalle_sampling.py --config h100        # GPT-2 24 x 1024, 64 text + 256 image
                                                             # tokens, 16,384 codes, bf16, batch 16
    python benchmarks/dalle_sampling.py --config mini --batch 4   # DALL·E Mini's dimensions: artengine
                                                             # against min-dalle (min_dalle_peer.py)
    python benchmarks/dalle_sampling.py --config mega --batch 8   # DALL·E Mega's, on CUDA, bf16
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artengine.devices import hardware  # noqa: E402
from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)

METHODS = ("artengine", "artengine_guided", "past_key_values_loop", "uncached_loop", "generate")
CUDA_METHODS = ("artengine_eager",)  # artengine without CUDA graphs; on a CPU it is artengine itself


def load(config: str, device: str, model: str, precision: str):
    """(DalleLM in `precision`, text rows 1 x T, null rows 1 x T) for the configuration."""
    import torch

    lm, text, null = load_fp32(config, device, model)
    return lm.to(torch.bfloat16 if precision == "bf16" else torch.float32), text, null


def load_fp32(config: str, device: str, model: str):
    import torch

    if config == "shapes":
        import artengine
        from artengine import discovery

        discovery.host.load()
        dalle = artengine.load_model(model, device)
        return dalle.lm, dalle.text(["a large red circle on the left on a black background"]), dalle.text([""])
    from artengine.plugins.dalle.layout import Layout
    from artengine.plugins.dalle.model import DalleLM, Shape

    torch.manual_seed(0)
    layout = Layout(text_vocab=1024, n_codes=16384, text_length=64, rows=16, cols=16)
    lm = DalleLM(layout, Shape(layers=24, width=1024, heads=16)).to(device).eval().requires_grad_(False)
    text = torch.randint(4, 1024, (1, 64), device=device)
    null = torch.zeros_like(text)
    return lm, text, null


def image_only(lm):
    """A logits processor for generate(): everything but the image codes is impossible."""
    import torch

    layout = lm.layout
    low, high = layout.code_offset, layout.image_start

    def process(input_ids, scores):
        masked = torch.full_like(scores, float("-inf"))
        masked[:, low:high] = scores[:, low:high]
        return masked

    return process


def run_method(method: str, lm, text, null, batch: int, precision: str):
    """Sample one batch of codes with `method`; returns the codes (B x N)."""
    import torch

    from artengine.plugins.dalle.sampling import SamplingSettings, sample_codes

    layout = lm.layout
    seeds = list(range(batch))
    if method.startswith("artengine"):
        guidance = 3.0 if method == "artengine_guided" else 1.0
        loop = "eager" if method == "artengine_eager" else "auto"
        return sample_codes(lm, text, null, seeds, SamplingSettings(guidance=guidance, precision=precision, loop=loop))
    device = text.device
    prefix = torch.cat([text, torch.full((1, 1), layout.image_start, device=device)], 1).expand(batch, -1)
    low, high = layout.code_offset, layout.image_start
    with torch.no_grad():
        if method == "generate":
            from transformers import LogitsProcessorList

            out = lm.gpt.generate(input_ids=prefix, attention_mask=torch.ones_like(prefix),
                                  max_new_tokens=layout.image_tokens, min_new_tokens=layout.image_tokens,
                                  do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                                  logits_processor=LogitsProcessorList([image_only(lm)]), pad_token_id=0)
            return out[:, prefix.shape[1]:] - low
        sequence, past = prefix, None
        codes = []
        for _ in range(layout.image_tokens):
            if method == "uncached_loop":
                logits = lm.gpt(input_ids=sequence).logits[:, -1]
            else:  # past_key_values_loop: the transformers cache, one new token per step
                step_input = sequence if past is None else sequence[:, -1:]
                output = lm.gpt(input_ids=step_input, cache=past, use_cache=True)
                logits, past = output.logits[:, -1], output.cache
            probabilities = logits[:, low:high].float().softmax(-1)
            code = torch.multinomial(probabilities, 1)
            codes.append(code)
            sequence = torch.cat([sequence, code + low], 1)
        return torch.cat(codes, 1)


def timings(methods, config: str, device: str, batch: int, repeats: int, model: str, precision: str):
    """(seconds per batch of each method, one per round; image tokens per candidate). The
    methods run interleaved round by round, so that a busy machine slows them alike."""
    import torch

    lm, text, null = load(config, device, model, precision)
    times: dict[str, list[float]] = {method: [] for method in methods}
    for round_number in range(repeats + 1):  # round 0 warms up (allocations, kernels)
        for method in methods:
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            codes = run_method(method, lm, text, null, batch, precision)
            if device == "cuda":
                torch.cuda.synchronize()
            assert codes.shape == (batch, lm.layout.image_tokens) and int(codes.min()) >= 0
            if round_number:
                times[method].append(time.perf_counter() - started)
    return times, lm.layout.image_tokens


def peak_memory(method: str, config: str, device: str, batch: int, model: str, precision: str) -> float:
    """MiB one batch adds at its peak to what the loaded model already holds: on CUDA from the
    allocator's statistics, on a Linux CPU from the process's peak resident set (reset through
    /proc/self/clear_refs). Runs in a fresh process per method, so the peak is the method's own."""
    import torch

    lm, text, null = load(config, device, model, precision)
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run_method(method, lm, text, null, batch, precision)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident set starts again from here
    run_method(method, lm, text, null, batch, precision)
    return (_status_kb("VmHWM") - before) / 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} (peak memory is measured on Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["shapes", "h100", "mini", "mega"], default="shapes",
                        help="mini, mega: DALL·E Mini's or Mega's dimensions, methods "
                        "artengine, artengine_default (its default precision) and min_dalle")
    parser.add_argument("--model", default="dalle:shapes", help="checkpoint for --config shapes")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    parser.add_argument("--methods", help=f"comma-separated, from {', '.join(METHODS + CUDA_METHODS)} "
                        "[default: all; the last only on CUDA]")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="auto: the dalle generator's default on this device")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # a child process measuring one method
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        if args.config in ("h100", "mega") and not torch.cuda.is_available():
            sys.exit(f"--config {args.config}: no CUDA device here, and this configuration would take "
                     "hours on a CPU; run it on a GPU machine, or add --device cpu to run it here anyway")
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.config in ("mini", "mega"):
        from benchmarks.min_dalle_peer import report

        print(json.dumps(report(args) | {"hardware": hardware(args.device, threads=args.threads)}, indent=2))
        return
    from artengine.plugins.dalle.generator import precision

    args.precision = precision(args.precision, args.device)
    if args.memory_of:
        print(json.dumps(peak_memory(args.memory_of, args.config, args.device, args.batch, args.model, args.precision)))
        return
    methods = (args.methods.split(",") if args.methods
               else list(METHODS + (CUDA_METHODS if args.device == "cuda" else ())))
    rounds, image_tokens = timings(methods, args.config, args.device, args.batch, args.repeats, args.model,
                                   args.precision)
    seconds = {method: statistics.median(values) for method, values in rounds.items()}
    results = {}
    for method in methods:
        child = [sys.executable, __file__, "--memory-of", method, "--config", args.config, "--device", args.device,
                 "--batch", str(args.batch), "--threads", str(args.threads), "--model", args.model,
                 "--precision", args.precision]
        done = subprocess.run(child, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            sys.exit(f"{method} failed:\n{done.stderr[-2000:]}")
        tokens = args.batch * image_tokens
        results[method] = {"seconds_per_batch": round(seconds[method], 4),
                           "images_per_s": round(args.batch / seconds[method], 3),
                           "tokens_per_s": round(tokens / seconds[method], 1),
                           "peak_memory_added_mb": round(json.loads(done.stdout.strip().splitlines()[-1]), 1)}
    report = {"config": args.config, "model": args.model if args.config == "shapes" else "random GPT-2 24x1024",
              "device": args.device, "precision": args.precision, "batch": args.batch, "repeats": args.repeats,
              "hardware": hardware(args.device, threads=args.threads), "methods": results}
    if "artengine" in rounds:
        ours = rounds["artengine"]
        report["speedup"] = {f"vs_{name}": round(paired_ratio(values, ours), 2)
                             for name, values in rounds.items() if not name.startswith("artengine")}
        if "artengine_guided" in rounds:
            report["guidance_cost"] = round(paired_ratio(rounds["artengine_guided"], ours), 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
