"""The optimisation loop: latents -> quantise -> decode -> losses -> Adam, for all candidates at once.

Every candidate's gradient is what it would get alone: the losses are batch means, so their sum
is scaled by the batch size, and Adam works element by element. Each candidate draws its
initial codes and its cutouts from generators seeded with its own seed.
"""

from __future__ import annotations

import contextlib
import math

import torch

import engine
from engine import Candidate, StopRequested, UsageError

from .animation import frame_interval, from_png, gif_bytes, png
from .checks import main_loss
from .cutouts import Cutouts
from .guides import build_guides
from .images import load_image, side_by_side, to_images, to_tensor
from .latents import codebook_range, decode, quantize, random_latents
from .specs import read_settings
from .state import generator_states, identity, load_state, restore_generators, save_state

CHECK_EVERY = 25  # steps between checks that the loss is finite (each check waits for the device)


def generate(request, progress) -> list[Candidate]:
    settings = read_settings(request.options)
    device = request.device
    vqgan = engine.load_model(settings.vqgan, device)
    guides = build_guides(settings, request.prompt, device)
    losses = chosen_losses(request, settings)
    codebook = vqgan.codebook.detach()
    generators = [torch.Generator().manual_seed(seed) for seed in request.seeds]
    noise_generators = generators if device == "cpu" else [
        torch.Generator(device=device).manual_seed(seed) for seed in request.seeds]
    width, height = request.size
    factor = int(vqgan.factor)
    context = {"request": request, "steps": settings.steps, "vqgan": vqgan, "clip": guides, "cutn": settings.cutn}

    with _frozen(vqgan, *(guide.model for guide in guides)):
        if settings.init_image:
            init = to_tensor(load_image(settings.init_image, request.size, "generator.init_image"))[None].to(device)
            with torch.no_grad():
                init_latents = vqgan.embed(vqgan.encode(init)).float()
            context["init_images"] = init.expand(request.count, -1, -1, -1)
            context["init_latents"] = init_latents.expand(request.count, -1, -1, -1)
            start = init_latents.repeat(request.count, 1, 1, 1)
        else:
            start = random_latents(codebook, height // factor, width // factor, generators)
        z = start.to(device).clone().requires_grad_(True)
        optimizer = _optimizer(settings, z)
        state_dir = getattr(request, "state_dir", None)
        first_step, frames = 0, [[] for _ in request.seeds]  # per candidate, PNG bytes
        saved = load_state(state_dir, identity(request, settings.vqgan), device)
        if saved is not None:
            first_step, frames = _restore(saved, settings, z, optimizer, generators, noise_generators)
        cutouts = Cutouts(settings.cutn, settings.cut_pow, settings.augment, generators, noise_generators)
        low, high = codebook_range(codebook)
        every = frame_interval(settings.steps, settings.save_every)
        done, interrupted, terms = first_step, False, {}
        try:
            progress(first_step, settings.steps)
            for step in range(first_step, settings.steps):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(settings, step)
                optimizer.zero_grad(set_to_none=True)
                with _precision(settings.precision, device):
                    images, total, terms = _evaluate(vqgan, z, codebook, losses, cutouts, context, step)
                (total * request.count).backward(inputs=[z])
                optimizer.step()
                with torch.no_grad():
                    z.copy_(z.maximum(low).minimum(high))
                done = step + 1
                if done % CHECK_EVERY == 0:
                    _check_finite(total, done)
                wants_preview = settings.save_every > 0 and done % settings.save_every == 0
                wants_frame = settings.animate and done % every == 0
                pictures = to_images(images) if wants_preview or wants_frame else []
                if wants_frame:
                    for candidate_frames, picture in zip(frames, pictures):
                        candidate_frames.append(png(picture))
                progress(done, settings.steps, side_by_side(pictures) if wants_preview else None)
        except StopRequested:
            interrupted = True
        with torch.no_grad(), _precision(settings.precision, device):
            final = decode(vqgan, quantize(z, codebook)).float()
            similarities = _similarities(final, guides)
        pictures = to_images(final)

    if interrupted and state_dir is not None:
        save_state(state_dir, {
            "identity": identity(request, settings.vqgan), "step": done,
            "latents": z.detach(), "optimizer": optimizer.state_dict(), "generators": generator_states(generators),
            "noise_generators": generator_states(noise_generators), "frames": frames,
        })
    candidates = []
    for index, (picture, seed) in enumerate(zip(pictures, request.seeds)):
        metadata = {"steps": done, "clip_similarity": round(similarities[index], 5),
                    "losses": {name: round(float(value), 6) for name, value in terms.items()}}
        if first_step:
            metadata["resumed_at_step"] = first_step
        if interrupted:
            metadata["interrupted"] = True
        files = {}
        if settings.animate:
            files["progress.gif"] = gif_bytes([from_png(frame) for frame in frames[index]] + [picture])
        candidates.append(Candidate(picture, seed, metadata, files))
    return candidates


def learning_rate(settings, step: int) -> float:
    """`lr` at the first step, decaying exponentially to `lr * lr_decay` at the last."""
    return settings.lr * settings.lr_decay ** (step / max(1, settings.steps - 1))


def chosen_losses(request, settings) -> list:
    """The request's losses, with the main `clip` term and the `init` term added when missing."""
    losses = list(request.losses)
    names = {loss.name for loss in losses}
    if "clip" not in names:
        losses.insert(0, main_loss(request))
    if settings.init_weight > 0 and "init" not in names:
        from engine import plugins
        from engine.options import resolve_options

        registry = plugins.get_registry()
        if "init" not in registry.items["loss"]:
            raise UsageError("generator.init_weight needs the 'init' loss, which no installed plugin registers")
        loss = registry.loss("init")
        losses.append(loss(settings.init_weight, resolve_options(loss.options, {}, "vqgan-clip", "losses.init")))
    if any(loss.name == "init" for loss in losses) and not settings.init_image:
        raise UsageError("the 'init' loss needs an init image: set generator.init_image=PATH")
    return [loss for loss in losses if loss.weight != 0]


def _evaluate(vqgan, z, codebook, losses, cutouts, context, step):
    """Decode the latents and add up the weighted losses; returns (images, total, terms)."""
    quantized = quantize(z, codebook)
    images = decode(vqgan, quantized)
    made: dict = {}

    def cutouts_of(images_, size: int):
        if (id(images_), size) not in made:
            made[id(images_), size] = (images_, cutouts(images_, size))  # keep images_ alive: ids stay unique
        return made[id(images_), size][1]

    context.update(step=step, latents=z, quantized=quantized, cutouts=cutouts_of)
    total, terms = 0, {}
    for loss in losses:
        value = loss(images, context)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise UsageError(f"loss '{loss.name}' returned {type(value).__name__}, not a scalar tensor")
        terms[loss.name] = value.detach()  # read at the end: reading each step would wait for the device
        total = total + loss.weight * value.float()
    return images, total, terms


def _check_finite(total, step: int) -> None:
    value = float(total.detach())
    if not math.isfinite(value):
        raise UsageError(f"the loss became {value} at step {step}; lower generator.lr or the loss weights")


def _optimizer(settings, z):
    kind = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    return kind([z], lr=settings.lr)


def _restore(saved, settings, z, optimizer, generators, noise_generators):
    with torch.no_grad():
        z.copy_(saved["latents"])
    optimizer.load_state_dict(saved["optimizer"])
    restore_generators(generators, saved["generators"])
    if noise_generators is not generators:
        restore_generators(noise_generators, saved["noise_generators"])
    return int(saved["step"]), [list(candidate_frames) for candidate_frames in saved["frames"]]


def _similarities(images, guides) -> list[float]:
    """Per image, the guides' weighted mean cosine similarity to their targets (higher: closer)."""
    total = torch.zeros(images.shape[0], device=images.device)
    for guide in guides:
        resized = torch.nn.functional.interpolate(images, size=(guide.image_size,) * 2, mode="bilinear",
                                                  align_corners=False, antialias=True)
        embeddings = torch.nn.functional.normalize(guide.model.encode_image(resized).float(), dim=-1)
        cosines = embeddings @ guide.targets.T  # B x K
        total += guide.weight * (cosines * guide.target_weights).sum(1) / guide.target_weights.abs().sum()
    return (total / sum(abs(guide.weight) for guide in guides)).tolist()


@contextlib.contextmanager
def _frozen(*models):
    """No gradients for the models' weights while the latents are optimised; restored after."""
    parameters = [p for model in models if hasattr(model, "parameters") for p in model.parameters()]
    flags = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


def _precision(precision: str, device: str):
    if precision == "bf16" or (precision == "auto" and device == "cuda"):
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()
