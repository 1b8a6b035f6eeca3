"""The one training loop: `train(trainer_class, settings, resume)` for `artengine train NAME`.

HF accelerate carries it from one CPU to N GPUs or machines: started by `accelerate launch`
or `torchrun`, every process runs this same code, the model is wrapped in
DistributedDataParallel, and `accelerator.autocast()`/`backward` give mixed precision with
loss scaling where fp16 needs it. The rest is ours and small: a seeded sampler whose position
is part of the checkpoint (so a run resumes on the very next example, with any number of
processes), the warm-up + cosine schedule as a pure function of the step, safe checkpoints
(training_checkpoints.py), the progress reporter `generate` uses too, and stopping at a step boundary on Ctrl-C or
SIGTERM, on every process at once.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, Mapping

from . import training_checkpoints as checkpoints
from .devices import resolve_device
from .errors import Interrupted, StopRequested, UsageError
from .launcher import PATIENCE, Shard, accelerate_settings, join_processes
from .outputs import claim_folder, missing_folders, release_made
from .progress import Reporter, stop_on_signals
from .trainers import Trainer, TrainingRun

RUN_KIND = "training run"
WINDOW = 50  # steps over which the reported figures are averaged


def learning_rate_factor(step: int, settings: Mapping[str, Any]) -> float:
    """Multiplier of the peak learning rate for 0-based `step`: linear warm-up (at most a
    tenth of the run), then a cosine decay to `final_lr` at the last step, or constant."""
    warmup = min(settings["warmup"], max(1, settings["steps"] // 10)) if settings["warmup"] else 0
    if step < warmup:
        return (step + 1) / warmup
    if settings["lr_schedule"] == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, settings["steps"] - warmup))
    floor = settings["final_lr"]
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class Sampler:
    """Example indices as an endless stream: each epoch a fresh seeded permutation.

    A micro-batch is the slice of the stream at a position, so what a process reads depends
    only on (seed, position): ranks take interleaved slices (the data is sharded), and the
    position saved in a checkpoint continues the stream whatever the new process count.
    """

    def __init__(self, size: int, seed: int):
        if size < 1:
            raise UsageError("the training data holds no examples")
        self.size, self.seed, self._orders = size, seed, {}

    def order(self, epoch: int):
        import numpy as np

        if epoch not in self._orders:
            if len(self._orders) > 2:
                self._orders.pop(min(self._orders))
            self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.size)
        return self._orders[epoch]

    def indices(self, start: int, count: int) -> list[int]:
        return [int(self.order(p // self.size)[p % self.size]) for p in range(start, start + count)]

    def seed_at(self, position: int) -> int:
        """A seed for the micro-batch starting at `position`, for the trainer's own random choices."""
        import numpy as np

        return int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])


def mixed_precision(device: str, precision: str) -> str:
    """accelerate's mixed_precision for `--precision` on `device`."""
    import torch

    cuda = device.startswith("cuda")
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise UsageError("--precision fp16 needs CUDA; use bf16 or fp32 on this device")
    return {"fp32": "no"}.get(precision, precision)


def train(trainer_class: type[Trainer], settings: Mapping[str, Any], resume: bool, log=None) -> dict[str, Any] | None:
    """Train (or continue with `resume`) in `settings["out"]`; returns a summary on the main
    process (None on the others). Raises Interrupted (exit 130) after checkpointing when
    the user stops it."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    device = resolve_device(settings["device"])
    threads = torch.get_num_threads()
    if settings["threads"]:
        torch.set_num_threads(settings["threads"])
    from accelerate.utils import InitProcessGroupKwargs

    # the other processes must come within the rendezvous timeout; accelerate then finds the group
    # joined (with the backend it would pick) and keeps its long patience for the barriers
    join_processes("nccl" if device.startswith("cuda") else "gloo")
    precision = mixed_precision(device, settings["precision"])
    with accelerate_settings():
        accelerator = Accelerator(cpu=device == "cpu", mixed_precision=precision,
                                  kwargs_handlers=[InitProcessGroupKwargs(timeout=PATIENCE)])
    try:
        reporter = Reporter(every=settings["log_every"] or max(1, settings["steps"] // 20))
        with stop_on_signals(reporter):
            return Loop(trainer_class, settings, resume, accelerator, reporter, log or reporter.note).run()  # notes go above the bar
    finally:
        torch.set_num_threads(threads)
        # accelerate keeps its settings process-wide; the next run in this process (tests) starts afresh
        AcceleratorState._reset_state(reset_partial_state=accelerator.num_processes == 1)


class Loop:
    def __init__(self, trainer_class, settings, resume, accelerator, reporter, log):
        self.s, self.accelerator, self.reporter = dict(settings), accelerator, reporter
        self.out = Path(settings["out"]).expanduser()
        self.main = accelerator.is_main_process
        self.log = log if self.main else (lambda message: None)
        # the run folder is written into and pruned: only one this program made (every process
        # checks, so that all refuse alike; rank 0 alone creates and marks it)
        claim_folder(self.out, RUN_KIND, "--out", create=False)
        self.resume_from = self._resume_folder(resume)
        self.run_info = TrainingRun(self.out, accelerator.device, accelerator.process_index,
                                    accelerator.num_processes, resume, log, accelerator.wait_for_everyone, self.s)
        self.trainer = trainer_class(self.s, str(accelerator.device))
        self.trainer.run = self.run_info
        self.name = trainer_class.name
        self.step = self.position = 0
        self.wall_time = 0.0
        self.history: list[dict[str, float]] = []

    def _resume_folder(self, resume: bool) -> Path | None:
        found = checkpoints.latest(self.out)
        if resume and found is None:
            raise UsageError(f"--resume: '{self.out}' holds no checkpoint yet; start without --resume")
        if not resume and found is not None:
            raise UsageError(f"'{self.out}' already holds a training run (step {int(found.name[5:])}); "
                             "pass --resume to continue it, or choose another --out")
        return found

    # -- setup ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any] | None:
        from accelerate.utils import set_seed

        self.trainer.check()
        made = missing_folders(self.out) if self.main else []
        if self.main:  # the settings check out: now make and mark the run folder
            claim_folder(self.out, RUN_KIND, "--out")
        self.accelerator.wait_for_everyone()
        set_seed(self.s["seed"])  # the same initial weights on every process
        try:
            self.model = self.trainer.setup()
        except UsageError:  # a model or dataset setup refused (--vqgan vqgan:nope): nothing stays behind
            release_made(made)
            raise
        self.optimizer = self.trainer.optimizer(self.model)
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.sampler = Sampler(self.trainer.examples(), self.s["seed"])
        set_seed(self.s["seed"] + self.accelerator.process_index)  # dropout and the like differ by rank
        if self.resume_from is not None:
            self._restore(self.resume_from)
        if self.step >= self.s["steps"]:
            raise UsageError(f"--resume: '{self.out}' is already trained to step {self.step}; "
                             "ask for more with --steps N")
        self.wrapped, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        self.run_info.autocast = self.accelerator.autocast
        parameters = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.log(f"train {self.name}: {parameters / 1e6:.2f}M parameters, {self.sampler.size} examples, "
                 f"{self.accelerator.num_processes} process(es) on {self.accelerator.device}, "
                 f"steps {self.step}..{self.s['steps']}")
        return self._loop()

    def _restore(self, folder: Path) -> None:
        from safetensors.torch import load_model

        facts = checkpoints.read_facts(folder)
        if facts.get("trainer", self.name) != self.name:
            raise UsageError(f"--resume: '{folder}' is a checkpoint of `train {facts['trainer']}`, not of `train {self.name}`; "
                             "give that command, or another --out")
        try:
            load_model(self.model, str(folder / "model.safetensors"), device=str(self.accelerator.device))
        except Exception as error:  # noqa: BLE001 - truncated file or another architecture
            raise UsageError(f"--resume: '{folder / 'model.safetensors'}' does not fit this run "
                             f"({checkpoints.first_line(error)})") from None
        try:
            self.optimizer.load_state_dict(checkpoints.load_tensors(folder / "optimizer.pt"))
            self.trainer.load_state_dict(checkpoints.load_tensors(folder / "trainer.pt", self.accelerator.device))
        except (KeyError, ValueError, RuntimeError) as error:
            raise UsageError(f"--resume: the checkpoint '{folder}' does not fit this run ({error})") from None
        rng = folder / f"rng-{self.accelerator.process_index}.pt"
        if rng.is_file():  # absent when this run has more processes than the one saved
            checkpoints.set_random_states(checkpoints.load_tensors(rng))
        self.step, self.position = facts["step"], facts["position"]
        self.wall_time = facts.get("wall_time_s", 0.0)
        self.log(f"resuming from {folder} (step {self.step})")

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> dict[str, Any] | None:
        import torch

        s, accelerator = self.s, self.accelerator
        if self.main:
            self.reporter.start(f"train {self.name}")
        started = time.perf_counter()
        stopping = False
        self.wrapped.train()
        while self.step < s["steps"] and not stopping:
            self.run_info.step = self.step
            for group in self.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * learning_rate_factor(self.step, s)
            loss, figures = self._accumulate()
            if s["grad_clip"]:
                accelerator.clip_grad_norm_(self.wrapped.parameters(), s["grad_clip"])
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.position += accelerator.num_processes * s["batch_size"] * s["grad_accum"]
            figures = {**figures, **(self.trainer.after_step(self.step) or {})}
            shared = torch.tensor([float(self.reporter.stop_requested), loss], device=accelerator.device)
            shared = accelerator.reduce(shared, "sum") if accelerator.num_processes > 1 else shared
            stopping = bool(shared[0] > 0)
            mean_loss = float(shared[1]) / accelerator.num_processes
            row = {key: mean_loss if key == "loss" else value for key, value in figures.items()} or {"loss": mean_loss}
            self.history = (self.history + [row])[-WINDOW:]
            if self.main:
                with contextlib.suppress(StopRequested):  # all processes stop together, at the check above
                    self.reporter(self.step, s["steps"], figures=self.history[-1])
            if self.step % (s["checkpoint_every"] or s["steps"]) == 0 or self.step == s["steps"] or stopping:
                self.wall_time += time.perf_counter() - started
                started = time.perf_counter()
                self._checkpoint()
            if s["sample_every"] and self.step % s["sample_every"] == 0 and self.main:
                self.trainer.sample(self.step)
        self.reporter.finish()
        if self.step < s["steps"]:
            stop = Interrupted(f"stopped at step {self.step} of {s['steps']}: checkpoint saved in '{self.out}'; "
                               "continue with the same command and --resume")
            Shard(accelerator.process_index, accelerator.num_processes).reraise(stop)  # rank 0 alone says so
        if not self.main:
            return None  # rank 0 reports
        return {"step": self.step, "seconds": round(self.wall_time, 1), "out": str(self.out),
                "device": str(accelerator.device), "figures": self.figures()}

    def _accumulate(self) -> tuple[float, dict[str, float]]:
        """Forward and backward over this step's micro-batches; gradients synchronise on the last."""
        s, accelerator = self.s, self.accelerator
        total, figures = 0.0, {}
        for micro in range(s["grad_accum"]):
            start = self.position + (micro * accelerator.num_processes + accelerator.process_index) * s["batch_size"]
            batch = self.trainer.batch(self.sampler.indices(start, s["batch_size"]), self.sampler.seed_at(start))
            last = micro == s["grad_accum"] - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(self.wrapped):
                with accelerator.autocast():
                    loss, figures = self.trainer.loss(self.wrapped, batch)
                accelerator.backward(loss / s["grad_accum"])
            total += float(loss.detach()) / s["grad_accum"]
        return total, figures

    def figures(self) -> dict[str, float]:
        """The mean of each figure over the last steps."""
        keys = {key for row in self.history for key in row}
        return {key: sum(row[key] for row in self.history if key in row) / sum(key in row for row in self.history)
                for key in sorted(keys)}

    def _checkpoint(self) -> None:
        from safetensors.torch import save_model

        accelerator = self.accelerator
        partial = checkpoints.folder_for(self.out, self.step).with_name(f"step-{self.step:08d}.partial")
        if self.main:
            partial = checkpoints.start_partial(self.out, self.step)
        accelerator.wait_for_everyone()
        checkpoints.save_tensors(checkpoints.random_states(), partial / f"rng-{accelerator.process_index}.pt")
        accelerator.wait_for_everyone()
        if self.main:
            with checkpoints.writing(partial, self.step, self.out):  # a full disk: one line, the previous checkpoint kept
                save_model(self.model, str(partial / "model.safetensors"))
                checkpoints.save_tensors(self.optimizer.state_dict(), partial / "optimizer.pt")
                checkpoints.save_tensors(self.trainer.state_dict(), partial / "trainer.pt")
                checkpoints.write_json(partial / checkpoints.STATE_FILE, {
                    "trainer": self.name, "step": self.step, "position": self.position,
                    "wall_time_s": round(self.wall_time, 1), "world_size": accelerator.num_processes,
                    "settings": self.s, "figures": self.figures()})
                checkpoints.complete(partial, self.s["keep_checkpoints"])
            self.run_info.wall_time_s = round(self.wall_time, 1)
            self.trainer.save(self.step, self.figures())
        accelerator.wait_for_everyone()
