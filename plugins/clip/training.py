"""`artengine train clip`: a small open_clip CLIP trained with open_clip's contrastive loss.

The output folder is loadable as `clip:DIR` at every checkpoint, and by plain open_clip as
`open_clip.create_model_and_transforms("local-dir:DIR")` (open_clip's hub layout):
    open_clip_config.json        open_clip config ({'model_cfg', 'preprocess_cfg'}) + how it was trained
    open_clip_model.safetensors  the weights (in --weights-dtype)
    training_state.safetensors   fp32 weights, AdamW moments and, in its metadata, the settings and
                                 step as JSON: everything `--resume` needs, read without unpickling
Each file is replaced atomically (written beside, then os.replace), so an interrupted run always
leaves a consistent checkpoint. Batch `step` depends only on (seed, step), so a resumed run
follows the same path as one that was never stopped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from artengine import UsageError
from artengine.errors import ArtengineError

from .batches import Batch, BatchMaker
from .model import build_network, tokenizer_for

STATE_FILE = "training_state.safetensors"
WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"
LEGACY_FILES = ("model.safetensors", "config.json")  # what older versions wrote; a resumed run drops them
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class TrainingStopped(ArtengineError):
    """The user stopped training; the checkpoint at that step has been written."""

    exit_code = 130


@dataclass
class TrainSettings:
    """Everything that defines a training run; saved with each checkpoint."""

    data: str
    model_cfg: dict[str, Any]
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 100
    hard_negatives: int = 4
    seed: int = 0
    data_count: int = 20000
    checkpoint_every: int = 100
    weights_dtype: str = "float32"
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)


def tiny_model_config(image_size=64, patch_size=8, width=128, layers=6, text_width=64, text_layers=4,
                      context_length=32, embed_dim=128, head_width=64) -> dict[str, Any]:
    """An open_clip CLIP config small enough to train on a CPU; the vocabulary is open_clip's own."""
    from open_clip.tokenizer import SimpleTokenizer

    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "patch_size": patch_size, "width": width, "layers": layers,
                       "head_width": min(head_width, width)},
        "text_cfg": {"context_length": context_length, "vocab_size": SimpleTokenizer().vocab_size,
                     "width": text_width, "heads": max(1, text_width // 32), "layers": text_layers},
    }


def default_preprocess() -> dict[str, Any]:
    from open_clip.transform import PreprocessCfg

    return {key: value for key, value in asdict(PreprocessCfg()).items() if key != "size"}


# -- the run ----------------------------------------------------------------------------------


def train(settings: TrainSettings, out: Path, device: str, resume: bool, threads: int | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Train (or continue) the run in `out`; returns a summary. Raises TrainingStopped when
    `should_stop()` turns true, after writing the checkpoint of the current step."""
    from artengine.datasets import open_dataset
    from open_clip.loss import ClipLoss

    if threads:
        torch.set_num_threads(threads)
    state = read_state(out) if resume else None
    if state is None and (out / STATE_FILE).exists():
        raise UsageError(f"'{out}' already holds a training run; add --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if state is not None:
        settings = TrainSettings(**{**state["settings"], "steps": settings.steps,
                                    "checkpoint_every": settings.checkpoint_every})
    settings.preprocess_cfg = settings.preprocess_cfg or default_preprocess()

    torch.manual_seed(settings.seed)
    network = build_network(settings.model_cfg, settings.preprocess_cfg).to(device).train()
    optimizer = make_optimizer(network, settings)  # after the move, so its state lives on `device` too
    start_step, elapsed = 0, 0.0
    if state is not None:
        start_step, elapsed = restore(network, optimizer, state)
    if start_step >= settings.steps:
        raise UsageError(f"the run in '{out}' already reached step {start_step}; give a larger --steps to continue")

    pairs = open_dataset(settings.data, count=settings.data_count, seed=settings.seed)
    image_size = tuple(network.visual.image_size) if isinstance(network.visual.image_size, (tuple, list)) \
        else (network.visual.image_size,) * 2
    batches = BatchMaker(pairs, settings.batch_size, image_size, settings.seed, settings.hard_negatives)
    step_loss = LossComputer(network, tokenizer_for(settings.model_cfg), ClipLoss(), device)

    write_config(out, settings)
    bar = ProgressBar(settings.steps, start_step)
    started, step, smoothed = time.monotonic(), start_step, None
    try:
        while step < settings.steps:
            set_learning_rate(optimizer, settings, step)
            loss = step_loss(batches.batch(step))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # as open_clip does: keep the temperature within 100
                network.logit_scale.clamp_(0, math.log(100))
            step += 1
            value = float(loss.detach())
            smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
            bar.update(step, smoothed)
            stop = should_stop()
            if step % settings.checkpoint_every == 0 or step == settings.steps or stop:
                write_checkpoint(out, network, optimizer, settings, step, elapsed + time.monotonic() - started)
                if not bar.live:
                    print(f"clip training: step {step}/{settings.steps}, loss {smoothed:.4f}, checkpoint written",
                          file=sys.stderr, flush=True)
            if stop and step < settings.steps:
                raise TrainingStopped(
                    f"stopped at step {step} of {settings.steps}; checkpoint saved in '{out}'; "
                    f"continue with: artengine train clip --out {out} --resume"
                )
    finally:
        bar.close()
    return {"out": str(out), "steps": step, "loss": smoothed, "wall_time_s": round(elapsed + time.monotonic() - started, 1),
            "device": device}


class LossComputer:
    """open_clip's ClipLoss on the batch, plus a term that ranks each image's caption above
    its hard negatives (the same caption with one attribute changed)."""

    def __init__(self, network, tokenizer, clip_loss, device: str):
        self.network, self.tokenizer, self.clip_loss, self.device = network, tokenizer, clip_loss, device
        cfg = network.visual.preprocess_cfg
        self.mean = torch.tensor(cfg["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"], device=device).view(1, 3, 1, 1)

    def __call__(self, batch: Batch) -> torch.Tensor:
        count = len(batch.captions)
        most = max((len(n) for n in batch.negatives), default=0)
        texts = batch.captions + [text for negatives in batch.negatives for text in negatives]
        images = (batch.images.to(self.device) - self.mean) / self.std
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device == "cuda"):
            image_features = self.network.encode_image(images, normalize=True).float()
            text_features = self.network.encode_text(self.tokenizer(texts).to(self.device), normalize=True).float()
        scale = self.network.logit_scale.exp()
        loss = self.clip_loss(image_features, text_features[:count], scale)
        if most == 0:
            return loss
        negatives = torch.zeros(count, most, text_features.shape[1], device=self.device)
        present = torch.zeros(count, most, dtype=torch.bool, device=self.device)
        position = count
        for row, row_negatives in enumerate(batch.negatives):
            negatives[row, : len(row_negatives)] = text_features[position: position + len(row_negatives)]
            present[row, : len(row_negatives)] = True
            position += len(row_negatives)
        positive = (image_features * text_features[:count]).sum(-1, keepdim=True)
        against = torch.einsum("bd,bkd->bk", image_features, negatives).masked_fill(~present, float("-inf"))
        logits = scale * torch.cat([positive, against], dim=1)
        return loss + F.cross_entropy(logits, torch.zeros(count, dtype=torch.long, device=self.device))


def make_optimizer(network, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW; as in open_clip, gains, biases and the temperature are not decayed."""
    def exempt(name, parameter):
        return parameter.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    named = list(network.named_parameters())
    groups = [
        {"params": [p for n, p in named if exempt(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exempt(n, p)], "weight_decay": settings.weight_decay},
    ]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)


def set_learning_rate(optimizer, settings: TrainSettings, step: int) -> None:
    """Linear warm-up, then a cosine decay to a tenth of --lr at the last step."""
    warmup = min(settings.warmup, max(1, settings.steps // 10))
    if step < warmup:
        rate = settings.lr * (step + 1) / warmup
    else:
        progress = (step - warmup) / max(1, settings.steps - warmup)
        rate = settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    for group in optimizer.param_groups:
        group["lr"] = rate


class ProgressBar:
    """`train clip [#####.....] 120/1000 loss 1.2345 0.8 s/step` redrawn on a terminal's stderr
    (at most ten times a second); `live` is False elsewhere, and then nothing is drawn."""

    def __init__(self, total: int, initial: int, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.total, self.step, self.first = total, initial, initial
        self.started = self.drawn = time.monotonic()

    def update(self, step: int, loss: float) -> None:
        self.step = step
        now = time.monotonic()
        if self.live and (now - self.drawn > 0.1 or step >= self.total):
            self.drawn = now
            done = int(30 * step / max(self.total, 1))
            pace = (now - self.started) / max(1, step - self.first)
            self.stream.write(f"\rtrain clip [{'#' * done}{'.' * (30 - done)}] {step}/{self.total} "
                              f"loss {loss:.4f} {pace:.2f} s/step")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


# -- checkpoints ------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before the rename, so a crash cannot leave it empty
    os.replace(temporary, path)


def write_config(out: Path, settings: TrainSettings) -> None:
    config = {"model_cfg": settings.model_cfg, "preprocess_cfg": settings.preprocess_cfg,
              "trained_with": "artengine train clip", "data": settings.data}
    write_atomic(out / CONFIG_FILE, json.dumps(config, indent=2).encode())


def write_checkpoint(out: Path, network, optimizer, settings: TrainSettings, step: int, elapsed: float) -> None:
    from safetensors.torch import save

    weights = {name: value.detach().cpu().contiguous() for name, value in network.state_dict().items()}
    tensors = {f"model/{name}": value.float() for name, value in weights.items()}
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer/{index}/{key}"] = value.detach().cpu().contiguous()
    groups = [{k: v for k, v in group.items()} for group in optimizer_state["param_groups"]]
    metadata = {"state": json.dumps({"settings": asdict(settings), "step": step, "elapsed_s": elapsed,
                                     "param_groups": groups})}
    write_atomic(out / STATE_FILE, save(tensors, metadata=metadata))
    dtype = DTYPES[settings.weights_dtype]
    shipped = {name: value.to(dtype) if value.is_floating_point() else value for name, value in weights.items()}
    write_atomic(out / WEIGHTS_FILE, save(shipped, metadata={"step": str(step)}))
    for legacy in LEGACY_FILES:  # a run begun by an older version: its files would now be stale copies
        (out / legacy).unlink(missing_ok=True)


def read_state(out: Path, tensors: bool = True) -> dict[str, Any]:
    """The saved training state: settings, step and (unless `tensors` is false) the tensors."""
    from safetensors import safe_open

    path = out / STATE_FILE
    if not path.is_file():
        raise UsageError(f"--resume: '{out}' holds no {STATE_FILE} to continue from; drop --resume to start a new run")
    try:
        with safe_open(str(path), framework="pt") as handle:
            state = json.loads(handle.metadata()["state"])
            if tensors:
                state["tensors"] = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # noqa: BLE001 - a damaged file is the user's to remove
        raise UsageError(f"--resume: '{path}' cannot be read ({error}); start a new run in another --out") from None
    return state


def saved_settings(out: Path) -> dict[str, Any]:
    return read_state(out, tensors=False)["settings"]


def restore(network, optimizer, state: dict[str, Any]) -> tuple[int, float]:
    tensors = state["tensors"]
    network.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    optimizer_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/")
            optimizer_state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(optimizer_state)
    return int(state["step"]), float(state["elapsed_s"])
