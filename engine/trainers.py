"""What a plugin implements to be trained by `artengine train NAME`; the engine owns the rest.

The engine's loop (artengine.training, on HF accelerate) owns the run folder, the optimiser
step, the learning-rate schedule, mixed precision, gradient accumulation and clipping, the
data order (a seeded, resumable sampler sharded across processes), checkpoints (model,
optimiser, trainer state, RNG states, data position), progress, Ctrl-C/SIGTERM and
`--resume`. A trainer keeps only what is its own: its options, the model and data, the loss
of one micro-batch, and how to write the finished model and its samples.

This module imports neither torch nor accelerate, so that `--help` stays fast.
"""

from __future__ import annotations

import shlex
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from .devices import hardware
from .interfaces import Item
from .invocation import command_line
from .options import Option

if TYPE_CHECKING:
    import torch

# The engine's own training options; a trainer changes their defaults through `defaults`.
TRAINING_OPTIONS = (
    Option("out", str, "", "Run folder: checkpoints, and the trained model the plugin writes."),
    Option("steps", int, 1000, "Optimiser steps in all.", min=1),
    Option("batch_size", int, 32, "Examples per micro-batch and process.", min=1),
    Option("grad_accum", int, 1, "Micro-batches per optimiser step.", min=1),
    Option("lr", float, 1e-3, "Peak learning rate.", min=0.0),
    Option("warmup", int, 100, "Linear warm-up steps (at most a tenth of --steps).", min=0),
    Option("lr_schedule", str, "cosine", "After the warm-up.", choices=("cosine", "constant")),
    Option("final_lr", float, 0.1, "Learning rate at the last step, as a fraction of --lr (cosine).", min=0.0, max=1.0),
    Option("grad_clip", float, 1.0, "Clip the gradient norm at this value (0: off).", min=0.0),
    Option("precision", str, "auto", "Autocast: auto = bf16 on CUDA (fp16 on GPUs without bf16), fp32 elsewhere.",
           choices=("auto", "fp32", "bf16", "fp16")),
    Option("seed", int, 0, "Seeds the model, the data order and the batches.", min=0),
    Option("checkpoint_every", int, 500, "Save a checkpoint every N steps (0: only at the end).", min=0),
    Option("keep_checkpoints", int, 2, "Checkpoints kept in OUT/checkpoints (the newest).", min=1),
    Option("sample_every", int, 0, "Call the trainer's samples every N steps (0: never).", min=0),
    Option("log_every", int, 0, "Print a progress line every N steps when stderr is not a terminal "
           "(0: every 5% of the run).", min=0),
    Option("device", str, "auto", "auto: CUDA when present, else the CPU.", choices=("auto", "cpu", "cuda", "mps")),
    Option("threads", int, 0, "CPU threads for PyTorch (0: its default; 1 on a busy machine).", min=0),
)


class TrainingRun:
    """What the engine tells a trainer about the run (handed to the trainer as `self.run`)."""

    def __init__(self, out: Path, device: Any, rank: int, world_size: int, resumed: bool,
                 log: Callable[[str], None], barrier: Callable[[], None], settings: Mapping[str, Any] | None = None):
        self.out, self.device, self.rank, self.world_size, self.resumed = out, device, rank, world_size, resumed
        self._log, self.barrier = log, barrier
        self.settings = dict(settings or {})
        self.command = shlex.join(command_line())
        self.wall_time_s = 0.0  # training time so far, up to the last checkpoint (for model cards)
        self.step = 0  # optimiser steps done before the current one
        self.autocast: Callable[[], Any] = lambda: __import__("contextlib").nullcontext()
        """The run's autocast context, for work outside `loss` (a second model's step)."""

    @property
    def main(self) -> bool:
        """Whether this is the process that writes files and reports (rank 0)."""
        return self.rank == 0

    def log(self, message: str) -> None:
        """One line on stderr, from the main process only."""
        if self.main:
            self._log(message)

    def record(self, step: int) -> dict[str, Any]:
        """How the model was trained, for the config a trainer writes beside its weights (and
        its model card): the command, the step, processes, wall time, hardware, every setting."""
        return {"command": self.command, "step": step, "world_size": self.world_size,
                "wall_time_s": self.wall_time_s, "hardware": hardware(str(self.device), self.world_size),
                "settings": self.settings}


class Trainer(Item):
    """Something `artengine train NAME` trains: declare `name`, `description`, `options` (the
    model's and data's own settings) and implement the methods below.

    Built like every item, `Trainer(options, device)`: `self.settings` holds every option, the
    engine's (steps, batch_size, lr, seed, ...) and the trainer's, resolved, and `self.device`
    is this process's device. `self.run`, set by the loop before `check()`, says where and on
    which process it runs. Unless a method says otherwise it runs on every process.
    """

    defaults: ClassVar[Mapping[str, Any]] = {}
    """The trainer's defaults for the engine's options, e.g. {"steps": 2000, "out": "runs/x"}."""
    fixed: ClassVar[tuple[str, ...]] = ()
    """Options a resumed run cannot change (the architecture, the data)."""
    checkpointed: ClassVar[tuple[str, ...]] = ()
    """Attributes saved in each checkpoint and restored on `--resume` beyond the model and its
    optimiser: tensors, or objects with state_dict()/load_state_dict() (a second model, its
    optimiser, an EMA of the codebook)."""
    loads_as: ClassVar[str] = ""
    """The model loader kind that loads the run folder (`vqgan` -> "load it as vqgan:OUT")."""

    run: TrainingRun
    """The run this trainer trains in, handed over by the loop before `check()`."""

    def check(self) -> None:
        """Refuse settings that cannot work with artengine.UsageError, before anything heavy."""

    @abstractmethod
    def setup(self) -> "torch.nn.Module":
        """Build the data and the model (on `self.run.device`); return the module to train."""

    @abstractmethod
    def optimizer(self, model: "torch.nn.Module") -> "torch.optim.Optimizer":
        """The optimiser over `model`'s parameters, at `settings["lr"]`; the engine schedules it."""

    @abstractmethod
    def examples(self) -> int:
        """How many examples the data holds; the engine's sampler draws indices below it."""

    @abstractmethod
    def batch(self, indices: list[int], seed: int) -> Any:
        """This process's micro-batch of the examples at `indices`; `seed` is unique to it
        (for random choices such as caption dropout), so a resumed run draws the same."""

    @abstractmethod
    def loss(self, model: "torch.nn.Module", batch: Any) -> tuple["torch.Tensor", dict[str, float]]:
        """(loss, figures to show) of one micro-batch, under the engine's autocast.

        Run the forward pass through `model`, the module as the engine prepared it, not
        through your own attribute: that is what averages the gradients across processes."""

    def after_step(self, step: int) -> Mapping[str, float] | None:
        """After each optimiser step (`step` counts from 1): EMA updates, clamps, a second
        model's step. May return more figures to show beside the loss's."""

    def state_dict(self) -> dict[str, Any]:
        """Trainer state beyond the model and optimiser, checkpointed: by default the attributes
        named in `checkpointed` that are not None."""
        state = {name: getattr(self, name) for name in self.checkpointed if getattr(self, name) is not None}
        return {name: value.state_dict() if hasattr(value, "state_dict") else value for name, value in state.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned, on `--resume`: tensors are copied into the
        attribute's own (keeping its device), the rest restore themselves."""
        for name in self.checkpointed:
            value = getattr(self, name)
            if value is None or name not in state:  # e.g. a part switched on after that checkpoint
                continue
            if hasattr(value, "load_state_dict"):
                value.load_state_dict(state[name])
            else:
                value.copy_(state[name])

    @abstractmethod
    def save(self, step: int, figures: Mapping[str, float]) -> None:
        """Main process: write the trained model, loadable, into `self.run.out` (after each
        checkpoint and at the end); `figures` are the recent mean losses."""

    def sample(self, step: int) -> None:
        """Main process, every `sample_every` steps: write samples or evaluation figures."""
