"""The optimisation loop: latents -> quantise -> decode -> losses -> Adam, for all candidates at once.

Every candidate's gradient is what it would get alone: the losses are batch means, so their sum
is scaled by the batch size, and Adam works element by element. Each candidate draws its
initial codes and its cutouts from generators seeded with its own seed.
"""

from __future__ import annotations

import math

import torch

import artengine
from artengine import Candidate, ImageTokenizer, UsageError

from .animation import frame_interval, from_png, gif_bytes, png
from .images import load_image, side_by_side, to_images, to_tensor
from .latents import codebook_range, decode, quantize, random_latents
from .specs import read_settings
from .state import generator_states, identity, load_state, restore_generators, save_state
from .steering import Steering, precision, run_request, with_main_loss

CHECK_EVERY = 25  # steps between checks that the loss is finite (each check waits for the device)


def generate(request, progress) -> list[Candidate]:
    run = Optimisation(request)
    return run_request(run, progress, run.vqgan, *run.steering.models)


class Optimisation:
    """One request's latents, optimiser, random generators and progress frames."""

    def __init__(self, request):
        self.request = request
        self.settings = read_settings(request.options)
        self.device = request.device
        self.vqgan = artengine.load_model(self.settings.vqgan, self.device, ImageTokenizer, "generator.vqgan")
        self.steering = Steering(request, self.settings, self.settings.steps,
                                 chosen_losses(request, self.settings, self.vqgan), tokenizer=self.vqgan)
        # the initial codes draw from the same generators as the cutouts, before them
        self.generators, self.noise_generators = self.steering.generators, self.steering.noise_generators
        self.codebook = self.vqgan.codebook.detach()
        self.low, self.high = codebook_range(self.codebook)
        self.init_fields: dict = {}
        self.state_dir = getattr(request, "state_dir", None)
        self.identity = identity(request, self.settings.vqgan)
        self.first_step = self.done = 0
        self.frames: list[list[bytes]] = [[] for _ in request.seeds]  # per candidate, PNG bytes
        self.interrupted = False

    def start(self) -> None:
        """Initial latents (random codes or the init image), or the state of a stopped run."""
        settings, request = self.settings, self.request
        if settings.init_image:
            init = to_tensor(load_image(settings.init_image, request.size, "generator.init_image"))[None]
            init = init.to(self.device)
            with torch.no_grad():
                init_latents = self.vqgan.embed(self.vqgan.encode(init)).float()
            self.init_fields = {"init_images": init.expand(request.count, -1, -1, -1),
                                "init_latents": init_latents.expand(request.count, -1, -1, -1)}
            start = init_latents.repeat(request.count, 1, 1, 1)
        else:
            width, height = request.size
            factor = int(self.vqgan.factor)
            start = random_latents(self.codebook, height // factor, width // factor, self.generators)
        self.z = start.to(self.device).clone().requires_grad_(True)
        kind = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
        self.optimizer = kind([self.z], lr=settings.lr)
        saved = load_state(self.state_dir, self.identity, self.device)
        if saved is not None:
            self._restore(saved)

    def loop(self, progress) -> None:
        settings = self.settings
        every = frame_interval(settings.steps, settings.save_every)
        progress(self.first_step, settings.steps)
        for step in range(self.first_step, settings.steps):
            images, total = self.step(step)
            if self.done % CHECK_EVERY == 0:
                _check_finite(total, self.done)
            wants_preview = settings.save_every > 0 and self.done % settings.save_every == 0
            wants_frame = settings.animate and self.done % every == 0
            pictures = to_images(images) if wants_preview or wants_frame else []
            if wants_frame:
                for frames, picture in zip(self.frames, pictures):
                    frames.append(png(picture))
            progress(self.done, settings.steps, side_by_side(pictures) if wants_preview else None)

    def step(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; returns the images it evaluated and their total loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.settings, step)
        self.optimizer.zero_grad(set_to_none=True)
        with precision(self.settings.precision, self.device):
            quantized = quantize(self.z, self.codebook)
            images = decode(self.vqgan, quantized)
            total = self.steering.total(images, step, latents=self.z, quantized=quantized, **self.init_fields)
        (total * self.request.count).backward(inputs=[self.z])
        self.optimizer.step()
        with torch.no_grad():
            self.z.copy_(self.z.maximum(self.low).minimum(self.high))
        self.done = step + 1
        return images, total

    def save(self) -> None:
        """Keep what `--resume` needs, when the core gave this request a state folder."""
        if self.state_dir is None:
            return
        save_state(self.state_dir, {
            "identity": self.identity, "step": self.done, "latents": self.z.detach(),
            "optimizer": self.optimizer.state_dict(), "generators": generator_states(self.generators),
            "noise_generators": generator_states(self.noise_generators), "frames": self.frames,
        })

    def _restore(self, saved: dict) -> None:
        with torch.no_grad():
            self.z.copy_(saved["latents"])
        self.optimizer.load_state_dict(saved["optimizer"])
        restore_generators(self.generators, saved["generators"])
        if self.noise_generators is not self.generators:
            restore_generators(self.noise_generators, saved["noise_generators"])
        self.first_step = self.done = int(saved["step"])
        self.frames = [list(frames) for frames in saved["frames"]]

    def candidates(self) -> list[Candidate]:
        with torch.no_grad(), precision(self.settings.precision, self.device):
            final = decode(self.vqgan, quantize(self.z, self.codebook)).float()
            records = self.steering.metadata(self, final)
        pictures = to_images(final)
        candidates = []
        for index, (picture, seed, metadata) in enumerate(zip(pictures, self.request.seeds, records)):
            files = {}
            if self.settings.animate:
                files["progress.gif"] = gif_bytes([from_png(frame) for frame in self.frames[index]] + [picture])
            candidates.append(Candidate(picture, seed, metadata, files))
        return candidates


def learning_rate(settings, step: int) -> float:
    """`lr` at the first step, decaying exponentially to `lr * lr_decay` at the last."""
    return settings.lr * settings.lr_decay ** (step / max(1, settings.steps - 1))


def chosen_losses(request, settings, vqgan) -> list:
    """The request's losses, with the main `clip` term, the `init` term and the `diffusion` term
    added when missing."""
    losses = with_main_loss(request)
    names = {loss.name for loss in request.losses}
    if settings.diffusion_weight > 0 and "diffusion" not in names:
        losses.extend(default_diffusion(settings.diffusion_weight, vqgan, request.device))
    if settings.init_weight > 0 and "init" not in names:
        from artengine import get_registry, resolve_options

        registry = get_registry()
        if "init" not in registry.items["loss"]:
            raise UsageError("generator.init_weight needs the 'init' loss, which no installed plugin registers")
        loss = registry.loss("init")
        options = resolve_options(loss.options, {}, "vqgan-clip", "losses.init")
        losses.append(loss({"weight": settings.init_weight, **options}, request.device))
    if any(loss.name == "init" for loss in losses) and not settings.init_image:
        raise UsageError("the 'init' loss needs an init image: set generator.init_image=PATH")
    return [loss for loss in losses if loss.weight != 0]


def default_diffusion(weight: float, vqgan, device: str) -> list:
    """The registered `diffusion` loss at its own defaults, when its model draws in this VQGAN's
    latent space (a prior of other images would pull towards the wrong world); else none."""
    from artengine import LatentDenoiser, get_registry, load_model, resolve_options

    registry = get_registry()
    if "diffusion" not in registry.items["loss"]:
        return []
    cls = registry.loss("diffusion")
    loss = cls({"weight": weight, **resolve_options(cls.options, {}, "vqgan-clip", "losses.diffusion")}, device)
    try:
        model = load_model(loss.settings["model"], device)
    except UsageError:  # not installed here: vqgan-clip runs as it did without it
        return []
    # load_model caches per (spec, device): the same VQGAN spec gives the very same object
    return [loss] if isinstance(model, LatentDenoiser) and model.tokenizer is vqgan else []


def _check_finite(total: torch.Tensor, step: int) -> None:
    value = float(total.detach())
    if not math.isfinite(value):
        raise UsageError(f"the loss became {value} at step {step}; lower generator.lr or the loss weights")
