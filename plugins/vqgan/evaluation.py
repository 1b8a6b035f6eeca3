"""How well a VQGAN reconstructs images it has not seen: PSNR, per image and overall.

PSNR is computed on images in [0, 1] (8-bit inputs, reconstructions clamped):
`psnr_mean` averages the per-image PSNR; `psnr_overall` is the PSNR of the mean squared error
over all images, which weighs the worst images more.
"""

from __future__ import annotations

import math

import torch

from artengine import open_dataset

from . import images as image_tensors
from .settings import EVAL_SEED


@torch.no_grad()
def reconstruction_errors(model, pairs, size: int, batch_size: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean squared error per image, codes used) of `model` on `pairs`."""
    errors, used = [], torch.zeros(model.n_embed, dtype=torch.bool)
    for start in range(0, len(pairs), batch_size):
        indices = range(start, min(start + batch_size, len(pairs)))
        images = image_tensors.batch(pairs, indices, size).to(model.device)
        codes = model.encode(images)
        reconstruction = model.decode(codes).clamp(0, 1)
        errors.append((reconstruction - images).pow(2).flatten(1).mean(1).cpu())
        used[codes.flatten().unique().cpu()] = True
    return torch.cat(errors), used


def psnr(mse: float) -> float:
    return -10 * math.log10(max(mse, 1e-12))


def evaluate(spec: str, data: str = "shapes", n: int = 1000, seed: int = EVAL_SEED, device: str = "cpu", size: int = 64) -> dict:
    """Figures for `spec` (any vqgan: spec) on `n` images of `data` drawn with `seed`."""
    import artengine

    model = artengine.load_model(spec, device, artengine.ImageTokenizer)
    pairs = open_dataset(data, n, seed)
    errors, used = reconstruction_errors(model, pairs, size)
    per_image = torch.tensor([psnr(e) for e in errors.tolist()])
    return {
        "model": spec,
        "data": data,
        "images": len(errors),
        "seed": seed,
        "size": size,
        "psnr_mean": round(per_image.mean().item(), 2),
        "psnr_overall": round(psnr(errors.mean().item()), 2),
        "psnr_min": round(per_image.min().item(), 2),
        "psnr_p05": round(per_image.quantile(0.05).item(), 2),
        "codes_used": int(used.sum()),
        "codebook_size": model.n_embed,
    }
