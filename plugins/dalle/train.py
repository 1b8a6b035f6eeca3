"""`artengine train dalle`: cache the codes once, then train the transformer on them.

Runs alone or under `torchrun --nproc_per_node=N` (DistributedDataParallel). Checkpoints:

    OUT/checkpoints/step-NNNNNNNN/   model.safetensors (float32), optimizer.pt, state.json;
                                     written as *.partial and renamed, the last two kept
    OUT/{config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
         artengine_dalle.json, README.md}
                                     the latest model, loadable as dalle:OUT and by transformers'
                                     GPT2LMHeadModel.from_pretrained(OUT) (see checkpoint.py)
    OUT/samples/step-NNNNNNNN.png    sample grids
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import artengine
from artengine import UsageError

from .batches import Batches
from .bundle import load_vqgan_checked
from .cache import build_cache, cache_key, open_cache
from .card import render_card
from .checkpoint import (CONFIG_FILE, FORMAT, FORMAT_VERSION, read_config, save_model, weights_bytes, weights_hash,
                         write_atomic)
from .data import resolve_source
from .distributed import World, start_world
from .layout import Layout
from .model import DalleLM, Shape, weighted_loss
from .text import TOKENIZER_FILE, caption_ids, load_tokenizer, text_rows, train_tokenizer

MAX_TEXT_LENGTH = 64
KEEP_CHECKPOINTS = 2
DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class TrainSettings:
    data: str
    out: Path
    vqgan: str | None = None
    data_count: int | None = None
    data_seed: int = 0
    data_options: dict = field(default_factory=dict)
    image_size: int = 0
    cache: Path | None = None
    steps: int = 2000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    layers: int = 4
    width: int = 256
    heads: int = 8
    dropout: float = 0.0
    text_length: int = 0
    vocab_size: int = 4096
    loss_weights: tuple[float, float] = (1.0, 7.0)
    null_caption: float = 0.1
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 50
    resume: bool = False
    device: str = "auto"
    seed: int = 0
    threads: int = 0
    weights_dtype: str = "float32"
    precision: str = "auto"
    command: str = ""


def train(settings: TrainSettings, log) -> Path:
    """Train (or resume) and return the output folder, a dalle checkpoint folder."""
    from artengine.devices import resolve_device

    world, device = start_world(resolve_device(settings.device))
    try:
        return Trainer(settings, world, device, log if world.main else (lambda message: None)).run()
    finally:
        world.close()


class Trainer:
    def __init__(self, settings: TrainSettings, world: World, device: str, log):
        self.s, self.world, self.device, self.log = settings, world, device, log
        self.out = Path(settings.out)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed + world.rank)
        self.autocast, self.scaler = mixed_precision(device, settings.precision)
        self.previous = self._previous_config()
        self.vqgan, self.vqgan_config = self._vqgan()
        self.cache = self._cache()
        self.tokenizer = self._tokenizer()
        self.layout, self.shape, self.text, self.first, self.counts = self._texts()
        self.lm = DalleLM(self.layout, self.shape).to(device)
        self.optimizer = self._optimizer()
        self.step, self.wall_time = 0, 0.0
        if settings.resume:
            self._restore()

    # -- setup ----------------------------------------------------------------------

    def _previous_config(self) -> dict | None:
        exists = (self.out / CONFIG_FILE).is_file()
        if self.s.resume:
            if not exists:
                raise UsageError(f"--resume: '{self.out}' holds no checkpoint yet (no {CONFIG_FILE}); "
                                 "start without --resume")
            return read_config(self.out)
        if exists:
            raise UsageError(f"'{self.out}' already holds a dalle checkpoint; pass --resume to continue it "
                             "or choose another --out")
        if not self.s.vqgan:
            raise UsageError("train dalle needs --vqgan SPEC (e.g. --vqgan vqgan:shapes): the image tokenizer")
        return None

    def _vqgan(self):
        if self.previous is not None:
            recorded = self.previous["vqgan"]
            if self.s.vqgan and portable_spec(self.s.vqgan) != recorded["spec"]:
                self.log(f"note: --vqgan {self.s.vqgan} ignored; the checkpoint was trained with {recorded['spec']}")
            return load_vqgan_checked(recorded, self.device, f"checkpoint '{self.out}'"), dict(recorded)
        spec = portable_spec(self.s.vqgan)
        vqgan = artengine.load_model(spec, self.device)
        for attribute in ("encode", "decode", "codebook", "factor"):
            if not hasattr(vqgan, attribute):
                raise UsageError(f"--vqgan {spec}: the model has no {attribute!r}; give an image tokenizer (a VQGAN)")
        return vqgan, {"spec": spec, "weights_hash": weights_hash(vqgan), "factor": int(vqgan.factor),
                       "n_codes": int(vqgan.codebook.shape[0])}

    def _cache(self):
        from artengine import discovery

        source = resolve_source(self.s.data, discovery.get_registry().names("dataset"))
        count = self.s.data_count or (50_000 if source.kind == "dataset" else None)
        size = self.s.image_size or (self.previous["vqgan"]["image_size"][0] if self.previous else 0)
        if not size:
            side = _first_image_side(source, self.s)
            size = side - side % self.vqgan_config["factor"]
        if size % self.vqgan_config["factor"]:
            raise UsageError(f"--image-size {size} is not a multiple of the VQGAN's factor {self.vqgan_config['factor']}")
        key = cache_key(source, count, self.s.data_seed, self.s.data_options, size, self.vqgan_config["weights_hash"])
        folder = Path(self.s.cache) if self.s.cache else self.out / "codes"
        if self.world.main:
            cache = open_cache(folder, key)
            if cache is None:
                self.log(f"tokenising the images of {source.name} with {self.vqgan_config['spec']} into {folder} (once)")
                started = time.perf_counter()
                cache = build_cache(folder, key, source, self.vqgan, self.device, self.log)
                self.log(f"cached {len(cache)} images as {cache.rows}x{cache.cols} codes "
                         f"in {time.perf_counter() - started:.0f} s")
        self.world.barrier()
        if not self.world.main:
            cache = open_cache(folder, key)
        self.vqgan_config["image_size"] = [size, size]
        self.source = source
        return cache

    def _tokenizer(self):
        if self.previous is None and self.world.main:
            self.out.mkdir(parents=True, exist_ok=True)
            captions = (caption for captions in self.cache.captions for caption in captions)
            tokenizer = train_tokenizer(captions, self.s.vocab_size)
            write_atomic(self.out / TOKENIZER_FILE, tokenizer.to_str().encode("utf-8"))
        self.world.barrier()
        return load_tokenizer(self.out)

    def _texts(self):
        flat = [caption for captions in self.cache.captions for caption in captions]
        counts = np.array([len(captions) for captions in self.cache.captions], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if self.previous is not None:
            layout, shape = Layout(**self.previous["layout"]), Shape(**self.previous["model"])
        else:
            longest = max(len(ids) for ids in self.tokenizer.encode_batch(flat, add_special_tokens=False)) if flat else 0
            text_length = self.s.text_length or min(longest + 2, MAX_TEXT_LENGTH)
            layout = Layout(self.tokenizer.get_vocab_size(), self.vqgan_config["n_codes"], text_length,
                            self.cache.rows, self.cache.cols)
            shape = Shape(self.s.layers, self.s.width, self.s.heads, self.s.dropout)
            if shape.width % shape.heads:
                raise UsageError(f"--width {shape.width} must be a multiple of --heads {shape.heads}")
        if (self.cache.rows, self.cache.cols) != (layout.rows, layout.cols):
            raise UsageError(f"the cached codes are {self.cache.rows}x{self.cache.cols} but the checkpoint "
                             f"expects {layout.rows}x{layout.cols}")
        dtype = np.int16 if layout.text_vocab < 2**15 else np.int32
        text = np.array(text_rows(self.tokenizer, flat, layout.text_length), dtype=dtype)
        return layout, shape, text, first, counts

    def _optimizer(self):
        decay = [p for p in self.lm.parameters() if p.dim() >= 2]
        other = [p for p in self.lm.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.s.weight_decay}, {"params": other, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.s.lr, betas=(0.9, 0.95))

    def _restore(self) -> None:
        from safetensors.torch import load_file

        folder = latest_checkpoint(self.out)
        if folder is None:
            raise UsageError(f"--resume: '{self.out / 'checkpoints'}' holds no complete checkpoint")
        try:  # tensors and plain data only: weights_only refuses pickled code
            state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
            optimizer = torch.load(folder / "optimizer.pt", map_location=self.device, weights_only=True)
            facts = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same answer
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise UsageError(f"--resume: checkpoint '{folder}' cannot be read safely ({first}); "
                             "delete that folder to resume from the one before") from None
        self.lm.load_state_dict(state, strict=False)
        self.optimizer.load_state_dict(optimizer)
        self.step, self.wall_time = facts["step"], facts["wall_time_s"]
        self.log(f"resuming from {folder} (step {self.step})")

    # -- the loop -------------------------------------------------------------------

    def run(self) -> Path:
        from artengine.progress import Reporter, stop_on_signals

        s = self.s
        batches = Batches(self.cache.codes, self.text, self.first, self.counts,
                          np.array(text_rows(self.tokenizer, [""], self.layout.text_length)[0]),
                          s.batch_size, s.grad_accum, s.seed, self.world.rank, self.world.size, s.null_caption)
        model = self.lm
        if self.world.distributed:
            model = torch.nn.parallel.DistributedDataParallel(self.lm)
        autocast, scaler = self.autocast, self.scaler
        parameters = sum(p.numel() for p in self.lm.parameters())
        self.log(f"training a {self.shape.layers}-layer GPT-2 ({parameters / 1e6:.2f}M parameters) on "
                 f"{len(self.cache)} images, {self.world.size} process(es) on {self.device}, "
                 f"steps {self.step}..{s.steps}")
        window = Window()
        bar = progress_bar(self.step, s.steps) if self.world.main else None
        saved_step = self.step
        reporter = Reporter()
        started = time.perf_counter()
        self.lm.train()
        with stop_on_signals(reporter):  # every rank: a stop anywhere stops all at the same step
            while self.step < s.steps:
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(self.step, s)
                totals = torch.zeros(2, device=self.device)
                for micro in range(s.grad_accum):
                    text, codes = batches.get(self.step, micro, self.device)
                    sync = micro == s.grad_accum - 1 or not self.world.distributed
                    with (contextlib.nullcontext() if sync else model.no_sync()), autocast():
                        text_loss, image_loss = model(text, codes)
                        loss = weighted_loss(text_loss, image_loss, s.loss_weights) / s.grad_accum
                    scaler.scale(loss).backward()
                    totals += torch.stack([text_loss.detach(), image_loss.detach()]).float() / s.grad_accum
                scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.lm.parameters(), 1.0)
                scaler.step(self.optimizer)
                scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                stop = torch.tensor([float(reporter.stop_requested)], device=self.device)
                averaged = self.world.mean(torch.cat([totals, stop]))
                window.add(float(averaged[0]), float(averaged[1]))
                self._report(bar, window)
                stopping = bool(averaged[2] > 0)
                if self.step % s.checkpoint_every == 0 or self.step == s.steps or stopping:
                    self.wall_time += time.perf_counter() - started
                    started = time.perf_counter()
                    self._checkpoint(window)
                    saved_step = self.step
                if s.sample_every and self.step % s.sample_every == 0 and self.world.main:
                    self._sample_grid()
                if stopping:
                    break
        if bar is not None:
            bar.close()
        if saved_step != self.step:
            self.wall_time += time.perf_counter() - started
            self._checkpoint(window)
        if reporter.stop_requested or self.step < s.steps:
            from artengine.run import Interrupted

            raise Interrupted(f"stopped at step {self.step}; continue with the same command and --resume")
        self.log(f"done: {self.out} (load it as dalle:{self.out})")
        return self.out

    def _report(self, bar, window) -> None:
        if bar is None:
            return
        text_loss, image_loss = window.means()
        bar.set_postfix(text=f"{text_loss:.3f}", image=f"{image_loss:.3f}", refresh=False)
        bar.update(1)
        if not bar.interactive and (self.step % self.s.log_every == 0 or self.step == self.s.steps):
            self.log(f"step {self.step}/{self.s.steps}  text loss {text_loss:.4f}  image loss {image_loss:.4f}  "
                     f"lr {learning_rate(self.step - 1, self.s):.2e}")

    # -- outputs --------------------------------------------------------------------

    def config(self, window) -> dict:
        text_loss, image_loss = window.means()
        previous = (self.previous or {}).get("card", {})
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "layout": self.layout.as_dict(),
            "model": self.shape.as_dict(),
            "vqgan": self.vqgan_config,
            "training": {
                "command": self.s.command,
                "data": {**self.source.describe(), "images": len(self.cache), "count": self.s.data_count,
                         "seed": self.s.data_seed, "options": self.s.data_options},
                "step": self.step,
                "steps": self.s.steps,
                "batch_size": self.s.batch_size,
                "grad_accum": self.s.grad_accum,
                "world_size": self.world.size,
                "lr": self.s.lr,
                "loss_weights": f"{self.s.loss_weights[0]:g}:{self.s.loss_weights[1]:g}",
                "null_caption": self.s.null_caption,
                "precision": self.s.precision,
                "parameters": sum(p.numel() for p in self.lm.parameters()),
                "wall_time_s": round(self.wall_time, 1),
                "hardware": hardware(self.device, self.world.size),
                "losses": {"text": round(text_loss, 4), "image": round(image_loss, 4)},
            },
            "card": previous,
        }

    def _checkpoint(self, window) -> None:
        if self.world.main:
            checkpoints = self.out / "checkpoints"
            folder = checkpoints / f"step-{self.step:08d}"
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            (partial / "model.safetensors").write_bytes(weights_bytes(self.lm))
            torch.save(self.optimizer.state_dict(), partial / "optimizer.pt")
            (partial / "state.json").write_text(json.dumps({"step": self.step, "wall_time_s": self.wall_time}))
            for written in partial.iterdir():  # on disk before the rename makes the folder count
                with open(written, "rb") as handle:
                    os.fsync(handle.fileno())
            discard(folder)
            os.replace(partial, folder)
            for old in sorted(checkpoints.glob("step-*[0-9]"))[:-KEEP_CHECKPOINTS]:
                discard(old)
            for leftover in checkpoints.glob("step-*.deleting"):  # from a run killed while deleting
                shutil.rmtree(leftover, ignore_errors=True)
            config = self.config(window)
            save_model(self.out, self.lm, self.tokenizer, config, render_card(config, f"dalle:{self.out.name}"),
                       DTYPES[self.s.weights_dtype])
        self.world.barrier()

    def _sample_grid(self) -> None:
        from artengine.grid import render_grid

        from .generator import to_images
        from .sampling import Settings, sample_codes

        captions = [self.cache.captions[i][0] for i in range(min(8, len(self.cache)))]
        null = torch.tensor(text_rows(self.tokenizer, [""], self.layout.text_length), device=self.device)
        self.lm.eval()
        images = []
        for number, caption in enumerate(captions):
            text = torch.tensor(text_rows(self.tokenizer, [caption], self.layout.text_length), device=self.device)
            # eager: a few samples gain nothing from a graph, and a capture beside DDP's threads can fail
            codes = sample_codes(self.lm, text, null, [number], Settings(guidance=3.0, loop="eager"))
            images += to_images(self.vqgan, codes, self.layout.rows, self.layout.cols)
        self.lm.train()
        grid = render_grid([(f"step {self.step}", images)], captions, title=str(self.out))
        folder = self.out / "samples"
        folder.mkdir(exist_ok=True)
        grid.save(folder / f"step-{self.step:08d}.png")


class Window:
    """Mean losses over the last steps, for the progress bar and the model card."""

    def __init__(self, size: int = 50):
        self.size, self.values = size, []

    def add(self, text_loss: float, image_loss: float) -> None:
        self.values = (self.values + [(text_loss, image_loss)])[-self.size :]

    def means(self) -> tuple[float, float]:
        if not self.values:
            return math.nan, math.nan
        return tuple(sum(column) / len(self.values) for column in zip(*self.values))


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak at the last step."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = (step - s.warmup) / max(1, s.steps - s.warmup)
    return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def mixed_precision(device: str, precision: str = "auto"):
    """(autocast context factory, grad scaler) for `--precision`.

    auto: bf16 autocast on CUDA (fp16 with loss scaling on GPUs without bf16), float32 elsewhere.
    bf16 also works on CPUs (fast where they have bf16 instructions); fp16 needs CUDA.
    """
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if precision == "auto":
        if kind != "cuda":
            precision = "fp32"
        else:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp32":
        return contextlib.nullcontext, torch.amp.GradScaler(kind, enabled=False)
    if precision == "fp16" and kind != "cuda":
        raise UsageError("--precision fp16 needs CUDA; use bf16 or fp32 on this device")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return (lambda: torch.autocast(kind, dtype=dtype)), torch.amp.GradScaler(kind, enabled=precision == "fp16")


def progress_bar(start: int, total: int):
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    bar = tqdm(total=total, initial=start, desc="train dalle", unit="step", disable=not interactive,
               file=sys.stderr, dynamic_ncols=True)
    bar.interactive = interactive
    return bar


def discard(folder: Path) -> None:
    """Delete a checkpoint folder, renaming it first: a kill during the deletion leaves a folder
    that no longer looks like a checkpoint, never half of one."""
    if folder.exists():
        doomed = folder.with_name(folder.name + ".deleting")
        shutil.rmtree(doomed, ignore_errors=True)
        os.replace(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("step-*[0-9]"))
    return found[-1] if found else None


def portable_spec(spec: str) -> str:
    """The spec with a relative path made absolute, so the checkpoint works from anywhere.

    Names a loader serves by itself (`vqgan:shapes`) stay as they are, even if a folder of
    that name happens to exist here."""
    from artengine import discovery

    kind, _, name = spec.partition(":")
    path = Path(name).expanduser()
    if not name or path.is_absolute() or not path.exists():
        return spec
    try:
        known = {info.spec for info in discovery.get_registry().model_loader(kind).available()}
    except UsageError:
        known = set()
    return spec if spec in known else f"{kind}:{path.resolve()}"


def hardware(device: str, world_size: int) -> str:
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"{world_size} x {name}" if world_size > 1 else name


def _first_image_side(source, settings) -> int:
    from .data import read_pairs

    for image, _ in read_pairs(source, 1, settings.data_seed, settings.data_options):
        return min(image.size)
    raise UsageError(f"--data {settings.data!r} gave no image-caption pairs")
