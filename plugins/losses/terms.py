"""The arithmetic of the loss terms. Each returns the mean over the batch of a per-image value."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from artengine import LossContext


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance between unit vectors (last dimension), times 2."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    return (a - b).norm(dim=-1).div(2).clamp(max=1).arcsin().pow(2).mul(2)


def clip_distance(images: torch.Tensor, context: LossContext, prompt=None) -> torch.Tensor:
    """Sum over the CLIP guides and their targets of weight x mean distance over the cutouts.

    A negative target weight turns the distance into something to increase. `prompt`, when
    given, replaces the request's text targets (and its image prompts) with its own.
    """
    guides = context.need("guides", "loss 'clip'")
    cutouts = context.need("cutouts", "loss 'clip'")
    batch = images.shape[0]
    total = images.new_zeros((), dtype=torch.float32)
    for guide in guides:
        targets, weights = guide.text_targets(prompt) if prompt is not None else (guide.targets, guide.target_weights)
        embeddings = guide.model.encode_image(cutouts(images, guide.image_size))
        embeddings = embeddings.reshape(batch, -1, 1, embeddings.shape[-1])  # B x cutouts x 1 x D
        distances = spherical_distance(embeddings, targets[None, None])  # B x cutouts x targets
        total = total + guide.weight * (distances.mean(dim=(0, 1)) * weights).sum()
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    across = images[..., :, 1:] - images[..., :, :-1]
    down = images[..., 1:, :] - images[..., :-1, :]
    return across.pow(2).mean() + down.pow(2).mean()


def symmetry(images: torch.Tensor, axis: str) -> torch.Tensor:
    dims = {"vertical": [(-1,)], "horizontal": [(-2,)], "both": [(-1,), (-2,)]}[axis]
    return sum((images - images.flip(dim)).abs().mean() for dim in dims) / len(dims)


def palette(images: torch.Tensor, colours) -> torch.Tensor:
    table = torch.tensor(colours, dtype=images.dtype, device=images.device)  # K x 3
    pixels = images.movedim(1, -1).unsqueeze(-2)  # B x H x W x 1 x 3
    return (pixels - table).pow(2).sum(-1).min(-1).values.mean()


def saturation(images: torch.Tensor, target: float) -> torch.Tensor:
    brightest = images.max(dim=1).values
    darkest = images.min(dim=1).values
    value = (brightest - darkest) / brightest.clamp(min=1e-3)
    return (value.flatten(1).mean(1) - target).pow(2).mean()


def init_distance(images: torch.Tensor, context: LossContext, space: str) -> torch.Tensor:
    if space == "latent":
        latents, init = context.need("latents", "loss 'init'"), context.need("init_latents", "loss 'init'")
        return F.mse_loss(latents.float(), init.float()) / 2
    return F.mse_loss(images.float(), context.need("init_images", "loss 'init'").float())
