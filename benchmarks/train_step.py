"""Benchmark: one training step on the engine's loop vs the plain loop the trainers had before.

Both train the same DalleLM (the shipped dalle:shapes shape by default: GPT-2 4 x 256, 64 image
codes) on the same random token batches, in float32 on the CPU, with AdamW, gradient clipping at 1
and the warm-up + cosine schedule. `engine` is `artengine.training.train` with a trainer around
that model (the step time includes everything the loop does per step: the sampler, the batch,
autocast, accelerate's backward and clipping, figures, progress); `plain` is the loop
plugins/dalle/train.py ran before (set the rate, forward, backward, unscale, clip, step, zero the
gradients, average the losses). Rounds alternate the two, and the ratio is taken per round
(benchmarks/pairing.py). `--processes 2` adds the engine on 2 CPU processes (gloo, via torchrun)
and reports samples/s beside 1 process.

    python benchmarks/train_step.py [--rounds 5] [--steps 8] [--batch-size 32] [--threads 1] [--processes 2]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)

SHAPE = {"layers": 4, "width": 256, "heads": 8, "text_length": 32, "rows": 8, "cols": 8, "codes": 1024}


def model_and_data(batch_size: int, examples: int = 512):
    import torch

    from artengine.plugins.dalle.layout import Layout
    from artengine.plugins.dalle.model import DalleLM, Shape

    torch.manual_seed(0)
    layout = Layout(2000, SHAPE["codes"], SHAPE["text_length"], SHAPE["rows"], SHAPE["cols"])
    lm = DalleLM(layout, Shape(SHAPE["layers"], SHAPE["width"], SHAPE["heads"], 0.0))
    text = torch.randint(4, 2000, (examples, SHAPE["text_length"]))
    codes = torch.randint(0, SHAPE["codes"], (examples, SHAPE["rows"] * SHAPE["cols"]))
    return lm, text, codes


def bench_trainer():
    from artengine import Trainer

    class Bench(Trainer):
        name = "bench"
        description = "DalleLM on random tokens (benchmarks/train_step.py)."

        def setup(self):
            self.lm, self.text, self.codes = model_and_data(self.settings["batch_size"])
            self.times = []
            return self.lm

        def optimizer(self, model):
            import torch

            return torch.optim.AdamW(model.parameters(), lr=self.settings["lr"], betas=(0.9, 0.95))

        def examples(self):
            return len(self.text)

        def batch(self, indices, seed):
            return self.text[indices], self.codes[indices]

        def loss(self, model, batch):
            from artengine.plugins.dalle.model import weighted_loss

            text_loss, image_loss = model(*batch)
            return weighted_loss(text_loss, image_loss, (1.0, 7.0)), {"loss": float(image_loss.detach())}

        def after_step(self, step):
            self.times.append(time.perf_counter())
            if self.run.main and step == self.settings["steps"]:
                Path(os.environ["BENCH_TIMES"]).write_text(json.dumps(self.times))

        def save(self, step, figures):
            pass

    return Bench


def engine_steps(steps: int, batch_size: int, folder: str | None = None) -> list[float]:
    """Seconds per step (after the first) of the engine's loop in this process, with its run
    folder in `folder` (shared by the processes of a distributed run) or a temporary one."""
    from artengine.cli_train import declarations
    from artengine.training import train

    trainer = bench_trainer()
    with tempfile.TemporaryDirectory() as temporary:
        folder = folder or temporary
        os.environ["BENCH_TIMES"] = str(Path(folder) / "times.json")
        settings = {option.name: option.default for option in declarations(trainer)}
        settings.update(out=str(Path(folder) / "run"), steps=steps, batch_size=batch_size, checkpoint_every=0,
                        device="cpu", precision="fp32", log_every=10**6)
        train(trainer, settings, resume=False, log=lambda message: None)
        times = json.loads(Path(os.environ["BENCH_TIMES"]).read_text())
    return [b - a for a, b in zip(times, times[1:])]


def plain_steps(steps: int, batch_size: int) -> list[float]:
    """Seconds per step (after the first) of the loop plugins/dalle/train.py had before."""
    import numpy as np
    import torch

    from artengine.plugins.dalle.model import weighted_loss

    lm, text, codes = model_and_data(batch_size)
    optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-3, betas=(0.9, 0.95))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    lm.train()
    times = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        images = np.random.default_rng([0, step]).permutation(len(text))[:batch_size]
        text_loss, image_loss = lm(text[images], codes[images])
        loss = weighted_loss(text_loss, image_loss, (1.0, 7.0))
        scaler.scale(loss).backward()
        totals = torch.stack([text_loss.detach(), image_loss.detach()]).float()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        float(totals[0]), float(totals[1])
        times.append(time.perf_counter())
    return [b - a for a, b in zip(times, times[1:])]


def distributed(processes: int, steps: int, batch_size: int, threads: int) -> float:
    """Median seconds per step of the engine's loop on `processes` CPU processes (gloo)."""
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                               "--master_port=29541", __file__, "--worker", folder, "--steps", str(steps),
                               "--batch-size", str(batch_size), "--threads", str(threads)], env=environment, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        stamps = json.loads((Path(folder) / "times.json").read_text())
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="Steps per method and round (the first is not timed).")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="Also time the engine on this many processes (0: no).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process (1: steady on a shared machine).")
    parser.add_argument("--worker", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.worker:
        engine_steps(args.steps, args.batch_size, args.worker)
        return
    engine, plain = [], []
    for _ in range(args.rounds):
        engine.append(statistics.median(engine_steps(args.steps, args.batch_size)))
        plain.append(statistics.median(plain_steps(args.steps, args.batch_size)))
    result = {
        "model": f"DalleLM {SHAPE['layers']} x {SHAPE['width']}, {SHAPE['rows'] * SHAPE['cols']} codes, "
                 f"batch {args.batch_size}, float32, CPU ({torch.get_num_threads()} threads)",
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "engine_s_per_step": round(statistics.median(engine), 4),
        "plain_s_per_step": round(statistics.median(plain), 4),
        "engine_over_plain": round(paired_ratio(engine, plain), 3),
    }
    print(json.dumps(result), file=sys.stderr, flush=True)  # kept if the distributed part fails
    if args.processes > 1:
        seconds = distributed(args.processes, args.steps, args.batch_size, args.threads)
        result[f"samples_per_s_{args.processes}_processes"] = round(args.processes * args.batch_size / seconds, 1)
        result["samples_per_s_1_process"] = round(args.batch_size / statistics.median(engine), 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
