"""Training a VQGAN the taming way, without LPIPS (its VGG weights cannot be fetched offline).

Losses, in taming's [-1, 1] image space: L1 + L2 reconstruction, the quantizer's commitment
term (and its codebook term when codes are trained by gradient), and optionally taming's patch
discriminator (NLayerDiscriminator) with a hinge loss and taming's adaptive weight, switched on
after `disc_start` steps. By default the codes follow the running mean of the encoder outputs
assigned to them, and codes unused for a while move onto encoder outputs (codebook.py).

The output folder is a loadable model at every checkpoint (`vqgan:DIR`):
  model.safetensors   the weights (taming's names), the step in its metadata
  config.json         the architecture (taming's config layout) and the training settings
  training_state.pt   the weights again, optimizer states, step, random states: all that
                      `--resume` needs, in one file
Each is written to a temporary file, flushed to disk and renamed, so an interrupted write leaves
the last good one. training_state.pt is written first and alone decides where `--resume` goes
on; model.safetensors comes last, so a folder holding it holds all three. A run killed between
the files resumes from the newest state, while the weights beside it (one checkpoint older at
most) still load as a model.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from artengine import UsageError
from artengine.checkpoints import read_checkpoint
from artengine.datasets import open_dataset
from artengine.devices import resolve_device

from . import images as image_tensors
from .config import TAMING_VQ, VARIANT, VQGANConfig, config_from_dict
from .loading import CONFIG_FILE, WEIGHT_FILE, load_state
from .codebook import EMACodebook
from .model import VQGAN
from .settings import ARCHITECTURE, TrainSettings

STATE_FILE = "training_state.pt"
RESTART_EVERY = 50  # steps over which a code must be used once to stay where it is
WARMUP_STEPS = 100


def model_config(settings: TrainSettings) -> VQGANConfig:
    ddconfig = {
        "double_z": False, "z_channels": settings.z_channels, "resolution": settings.image_size,
        "in_channels": 3, "out_ch": 3, "ch": settings.ch, "ch_mult": list(settings.ch_mult),
        "num_res_blocks": settings.num_res_blocks, "attn_resolutions": [], "dropout": 0.0,
        "decoder_norm": settings.decoder_norm,
    }
    params = {"n_embed": settings.codebook_size, "embed_dim": settings.embed_dim, "ddconfig": ddconfig}
    target = TAMING_VQ if settings.decoder_norm == "group" else VARIANT  # taming builds only the first as written
    config = config_from_dict({"model": {"target": target, "params": params}}, "train vqgan")
    if settings.image_size % config.factor:
        raise UsageError(f"--image-size {settings.image_size} must be a multiple of the factor {config.factor} (from --ch-mult)")
    return config


def settings_for(out: Path, given: dict[str, Any], resume: bool) -> TrainSettings:
    """Defaults, overlaid by the saved settings when resuming, overlaid by what the user gave."""
    known = {f.name for f in fields(TrainSettings)}
    values = asdict(TrainSettings())
    if resume:
        saved = _saved_config(out).get("training", {}).get("settings", {})
        values.update({key: value for key, value in saved.items() if key in known})
        for key in ARCHITECTURE:
            if key in given and given[key] != values[key]:
                raise UsageError(
                    f"--{key.replace('_', '-')} {given[key]} differs from the checkpoint's {values[key]}: "
                    "the architecture cannot change when resuming"
                )
    values.update({key: value for key, value in given.items() if value is not None})
    settings = TrainSettings(**values)
    if not settings.data:
        raise UsageError("train vqgan needs --data (a registered dataset such as 'shapes', or a folder of image + caption pairs)")
    return settings


def _saved_config(out: Path) -> dict:
    path = out / CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"--resume: '{out}' holds no checkpoint ({CONFIG_FILE} is missing); train without --resume first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UsageError(f"--resume: '{path}' is not valid JSON ({error})") from None


class Trainer:
    """One training run: model, optimizers, data and the loop, resumable from its folder."""

    def __init__(self, out: Path, settings: TrainSettings, resume: bool, stream=None):
        self.out = out
        self.settings = settings
        self.stream = stream or sys.stderr
        self.config = model_config(settings)
        self.device = resolve_device(settings.device)
        self.bf16 = settings.precision == "bf16" or (settings.precision == "auto" and self.device == "cuda")
        if self.bf16 and self.device not in ("cuda", "cpu"):
            raise UsageError(f"--precision bf16 is supported on cuda and cpu, not {self.device}")
        torch.manual_seed(settings.seed)
        self.model = VQGAN(self.config).to(self.device)
        self.ema = None
        if settings.codebook_update == "ema":
            self.model.codebook.requires_grad_(False)  # moved by EMACodebook, not by the optimizer
            self.ema = EMACodebook(self.model.codebook)
        self.trained = trained = [p for p in self.model.parameters() if p.requires_grad]
        # (0.9, 0.99) learns reconstruction faster here than taming's GAN-style (0.5, 0.9),
        # which the discriminator keeps
        self.optimizer = torch.optim.Adam(trained, lr=settings.lr, betas=(0.9, 0.99))
        self.discriminator = self.disc_optimizer = None
        if settings.discriminator:
            self._make_discriminator()
        self.pairs = open_dataset(settings.data, settings.data_count, settings.seed)
        if len(self.pairs) == 0:
            raise UsageError(f"--data {settings.data}: no images")
        self.sampler = torch.Generator().manual_seed(settings.seed)
        self.usage = torch.zeros(settings.codebook_size, dtype=torch.long)
        self.step = 0
        self.seconds = 0.0
        if resume:
            self._restore()

    def _make_discriminator(self) -> None:
        from taming.modules.discriminator.model import NLayerDiscriminator, weights_init

        self.discriminator = NLayerDiscriminator(input_nc=3, ndf=32, n_layers=2).apply(weights_init).to(self.device)
        self.disc_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.settings.lr, betas=(0.5, 0.9))

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> dict:
        settings = self.settings
        bar = ProgressLine(self.stream, settings.steps, self.step)
        started = time.monotonic()
        try:
            stop_on_sigterm()
            while self.step < settings.steps:
                self.step += 1
                figures = self.train_step()
                self.seconds += time.monotonic() - started
                started = time.monotonic()
                bar.update(self.step, figures)
                every = settings.checkpoint_every
                if self.step == settings.steps or (every and self.step % every == 0):
                    self.save()
        except KeyboardInterrupt:
            self.save()
            bar.note(f"interrupted: checkpoint saved at step {self.step} in {self.out}; continue with --resume")
            raise
        finally:
            bar.close()
            restore_sigterm()
        return {"step": self.step, "seconds": round(self.seconds, 1), "out": str(self.out)}

    def learning_rate(self, step: int) -> float:
        settings = self.settings
        warmup = min(WARMUP_STEPS, settings.steps // 10)
        if step <= warmup:
            return settings.lr * step / max(warmup, 1)
        if settings.lr_schedule == "constant":
            return settings.lr
        progress = (step - warmup) / max(settings.steps - warmup, 1)
        return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    def train_step(self) -> dict:
        settings, model = self.settings, self.model
        model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        indices = torch.randint(len(self.pairs), (settings.batch_size,), generator=self.sampler)
        images = image_tensors.batch(self.pairs, indices, settings.image_size).to(self.device)
        target = images * 2 - 1
        use_disc = self.discriminator is not None and self.step > settings.disc_start
        with self._autocast():
            h = model.pre_quantization(images)
            quantized, quantizer_loss, (_, _, codes) = model.quantize(h)
            reconstruction = model.decoder(model.post_quant_conv(quantized))
            error = reconstruction.float() - target
            rec_loss = error.abs().mean() + error.pow(2).mean()
            loss = rec_loss + quantizer_loss
            if use_disc:
                loss = loss + self._generator_term(reconstruction, rec_loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:  # without decoder norms, rare large gradients otherwise derail a run
            torch.nn.utils.clip_grad_norm_(self.trained, settings.grad_clip)
        self.optimizer.step()
        disc_loss = self._discriminator_step(target, reconstruction.detach()) if use_disc else None
        vectors = h.detach().permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        codes = codes.flatten()
        if self.ema is not None:
            self.ema.update(model.codebook.data, vectors, codes)
        self.usage += torch.bincount(codes.cpu(), minlength=settings.codebook_size)
        if settings.restart_dead_codes and self.step % RESTART_EVERY == 0:
            self._restart_dead_codes(vectors)
        mse = ((reconstruction.detach().float().clamp(-1, 1) - target) / 2).pow(2).mean().item()
        figures = {"loss": loss.item(), "psnr": -10 * math.log10(max(mse, 1e-10))}
        if disc_loss is not None:
            figures["d"] = disc_loss
        return figures

    def _generator_term(self, reconstruction, rec_loss):
        """taming's adaptive weight: the GAN gradient scaled to the reconstruction's at the last layer."""
        g_loss = -self.discriminator(reconstruction).float().mean()
        last = self.model.decoder.conv_out.weight
        rec_grad = torch.autograd.grad(rec_loss, last, retain_graph=True)[0]
        g_grad = torch.autograd.grad(g_loss, last, retain_graph=True)[0]
        weight = (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0, 1e4).detach()
        return self.settings.disc_weight * weight * g_loss

    def _discriminator_step(self, real, fake) -> float:
        self.discriminator.train()
        with self._autocast():
            hinge = 0.5 * (F.relu(1 - self.discriminator(real).float()).mean() + F.relu(1 + self.discriminator(fake).float()).mean())
        self.disc_optimizer.zero_grad(set_to_none=True)
        hinge.backward()
        self.disc_optimizer.step()
        return hinge.item()

    @torch.no_grad()
    def _restart_dead_codes(self, vectors: torch.Tensor) -> None:
        """Codes unused since the last restart move onto random encoder outputs of this batch."""
        dead = (self.usage == 0).nonzero().flatten()
        if len(dead):
            picks = torch.randint(len(vectors), (len(dead),), generator=self.sampler)
            chosen = vectors[picks.to(vectors.device)]
            if self.ema is not None:
                self.ema.restart(self.model.codebook.data, dead, chosen)
            else:
                codebook = self.model.codebook.data
                codebook[dead.to(codebook.device)] = chosen.to(codebook.dtype)
        self.usage.zero_()

    def _autocast(self):
        import contextlib

        if self.bf16:
            return torch.autocast(self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- checkpoints ---------------------------------------------------------------------

    def save(self) -> None:
        from safetensors.torch import save_file

        self.out.mkdir(parents=True, exist_ok=True)
        weights = {key: value.detach().cpu().contiguous() for key, value in self.model.state_dict().items()}
        state = {
            "model": weights,
            "step": self.step,
            "seconds": self.seconds,
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.get_state(),
            "torch_rng": torch.get_rng_state(),
            "usage": self.usage.clone(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["disc_optimizer"] = self.disc_optimizer.state_dict()
        atomic_write(self.out / STATE_FILE, lambda path: torch.save(state, path))  # first: see the docstring
        config = self.config.to_dict()
        config["training"] = {
            "settings": asdict(self.settings),
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "data_size": len(self.pairs),
        }
        text = json.dumps(config, indent=2) + "\n"
        atomic_write(self.out / CONFIG_FILE, lambda path: path.write_text(text, encoding="utf-8"))
        # last: a folder with weights is a loadable model, so the config must be there before them
        atomic_write(self.out / WEIGHT_FILE, lambda path: save_file(weights, str(path), metadata={"step": str(self.step)}))

    def _restore(self) -> None:
        weights_path, state_path = self.out / WEIGHT_FILE, self.out / STATE_FILE
        if not state_path.is_file():
            raise UsageError(f"--resume: '{state_path}' is missing; the checkpoint in '{self.out}' is incomplete")
        state = read_checkpoint(state_path)  # written by us, but read as safely as any other
        if isinstance(state.get("model"), dict):
            load_state(self.model, state["model"], state_path)
        else:  # a state written before it held the weights: they must come from the same step
            self._restore_weights_file(weights_path, state.get("step"))
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.discriminator is not None:
                if "discriminator" in state:
                    self.discriminator.load_state_dict(state["discriminator"])
                    self.disc_optimizer.load_state_dict(state["disc_optimizer"])
            self.sampler.set_state(state["sampler"])
            torch.set_rng_state(state["torch_rng"])
            self.usage = state["usage"].clone()
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
        except (KeyError, ValueError, RuntimeError) as error:
            raise UsageError(f"--resume: '{state_path}' does not fit this run ({error})") from None
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))

    def _restore_weights_file(self, weights_path: Path, step) -> None:
        from safetensors import safe_open

        if not weights_path.is_file():
            raise UsageError(f"--resume: '{weights_path}' is missing; the checkpoint in '{self.out}' is incomplete")
        load_state(self.model, read_checkpoint(weights_path), weights_path)
        with safe_open(str(weights_path), "pt") as handle:
            weights_step = int((handle.metadata() or {}).get("step", -1))
        if weights_step != step:
            raise UsageError(
                f"--resume: the weights in '{self.out}' are from step {weights_step} but the training state "
                f"from step {step}; the last checkpoint was cut short: train again without --resume"
            )


_previous_sigterm: list = []


def stop_on_sigterm() -> None:
    """`kill PID` stops a background run like Ctrl-C does: checkpoint, then exit."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def interrupt(signum, frame):
            raise KeyboardInterrupt

        _previous_sigterm.append(signal.signal(signal.SIGTERM, interrupt))


def restore_sigterm() -> None:
    import signal

    if _previous_sigterm:
        signal.signal(signal.SIGTERM, _previous_sigterm.pop())


def atomic_write(path: Path, write) -> None:
    """Call `write(temporary_path)`, then rename over `path`: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:  # on disk before the rename, so a crash cannot empty it
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


class ProgressLine:
    """A progress bar with the loss on a terminal; a line every 5% of the run otherwise."""

    def __init__(self, stream, total: int, start: int):
        self.stream, self.total = stream, total
        self.live = hasattr(stream, "isatty") and stream.isatty()
        self.every = max(1, total // 20)
        self.last_draw = 0.0
        self.drawn = False
        self.started = time.monotonic()
        self.start = start

    def update(self, step: int, figures: dict) -> None:
        text = " ".join(f"{key} {value:.4g}" for key, value in figures.items())
        rate = (time.monotonic() - self.started) / max(step - self.start, 1)
        if self.live:
            if time.monotonic() - self.last_draw > 0.2 or step == self.total:
                width = 24
                done = int(width * step / max(self.total, 1))
                self.stream.write(f"\rtrain vqgan [{'#' * done}{'.' * (width - done)}] {step}/{self.total} {text} ({rate:.2f}s/step)\033[K")
                self.stream.flush()
                self.last_draw = time.monotonic()
                self.drawn = True
        elif step % self.every == 0 or step == self.total:
            self.stream.write(f"train vqgan: step {step}/{self.total} {text} ({rate:.2f}s/step)\n")
            self.stream.flush()

    def note(self, message: str) -> None:
        self.close()
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def train(out: str, given: dict[str, Any], resume: bool, stream=None, threads: int | None = None) -> dict:
    """Run `artengine train vqgan`: `given` holds the options the user set (None for unset)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _train(out, given, resume, stream)
    finally:
        torch.set_num_threads(previous)


def _train(out: str, given: dict[str, Any], resume: bool, stream) -> dict:
    out_path = Path(out).expanduser()
    if not resume and (out_path / WEIGHT_FILE).exists():
        raise UsageError(f"--out '{out_path}' already holds a trained model; pass --resume to continue it or choose another folder")
    settings = settings_for(out_path, {k: v for k, v in given.items() if v is not None}, resume)
    trainer = Trainer(out_path, settings, resume, stream)
    if resume and trainer.step >= settings.steps:
        raise UsageError(f"--resume: '{out_path}' is already trained to step {trainer.step}; ask for more with --steps N")
    return trainer.run()
