"""Score distillation in the clean-latent form: with x the latents (normalised), x_t = noise(x, t)
and x0 the model's guided estimate from x_t, the loss is |x - x0|^2 / 2 per latent position
(summed over channels, averaged over positions and the batch) with x0 held fixed, so its gradient
is x - x0: the step that DreamFusion's SDS takes, weighted by the noise level, without a backward
pass through the model. Per position, so that weight 1 balances the `clip` loss at weight 1 on
the shapes models (in vqgan-clip's Adam steps).

Each candidate draws its timestep jitter and noise from a generator seeded by its own seed,
so a candidate depends on its seed alone, as the engine asks of every generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import artengine
from artengine import LatentDenoiser, LossContext, UsageError


@dataclass
class Run:
    """One request's denoiser, conditions and noise generators (made at its first step)."""

    request: object
    model: LatentDenoiser
    conditions: torch.Tensor
    unconditional: torch.Tensor
    generators: list[torch.Generator]


def distillation(loss, images: torch.Tensor, context: LossContext) -> torch.Tensor:
    run = _run(loss, context)
    model, settings = run.model, loss.settings
    latents = _latents(model, images, context)
    clean = model.normalise(latents.float())
    t = _timesteps(settings, context, run.generators, model.timesteps).to(clean.device)
    noise = torch.stack([torch.randn(clean.shape[1:], generator=g) for g in run.generators]).to(clean.device)
    with torch.no_grad():
        noisy = model.add_noise(clean.detach(), noise, t)
        estimate = model.predict_clean(noisy, t, run.conditions.to(noisy.dtype), run.unconditional.to(noisy.dtype),
                                       settings["guidance"]).float()
    return (clean - estimate).pow(2).sum(1).mean() / 2


def _run(loss, context: LossContext) -> Run:
    """The request's Run, made at its first step (a generator calls its losses for one request
    at a time): the denoiser and its condition for the prompt, per candidate."""
    request = context.request
    if loss.run is None or loss.run.request is not request:
        model = denoiser(loss.settings["model"], request.device)
        generators = [torch.Generator().manual_seed(_seed_of(f"diffusion loss {seed}")) for seed in request.seeds]
        if loss.settings["condition"] == "prompt":
            conditions, unconditional = model.condition(request.prompt, generators)
        else:
            conditions = unconditional = model.unconditional(len(generators))
        loss.run = Run(request, model, conditions, unconditional, generators)
    return loss.run


def denoiser(spec: str, device: str) -> LatentDenoiser:
    return artengine.load_model(spec, device, LatentDenoiser, "losses.diffusion.model")


def _latents(model, images: torch.Tensor, context: LossContext) -> torch.Tensor:
    """The generator's own latents when they are the model's latent space, else the images
    encoded (differentiably) by the model's tokenizer."""
    latents = context.quantized if context.quantized is not None else context.latents
    if latents is not None and context.tokenizer is model.tokenizer:  # load_model's cache: one object per spec
        return latents
    encode = getattr(model.tokenizer, "pre_quantization", None)
    if encode is None:
        raise UsageError("the 'diffusion' loss needs the generator's latents in its model's latent space, or a "
                         "tokenizer that encodes images; this generator gives neither")
    _, height, width = model.latent_shape
    factor = int(model.tokenizer.factor)
    if images.shape[-2:] != (height * factor, width * factor):
        images = torch.nn.functional.interpolate(images, size=(height * factor, width * factor), mode="bilinear",
                                                 antialias=True, align_corners=False)
    return encode(images)


def _timesteps(settings, context: LossContext, generators, timesteps: int) -> torch.Tensor:
    low, high = settings["t_min"], settings["t_max"]
    if settings["schedule"] == "anneal":
        share = min(1.0, context.step / max(1, context.steps - 1))
        levels = [high - (high - low) * share] * len(generators)
    else:
        levels = [low + (high - low) * float(torch.rand((), generator=g)) for g in generators]
    return torch.tensor([min(timesteps - 1, max(1, round(level * (timesteps - 1)))) for level in levels])


def _seed_of(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
