"""How much memory a vqgan-clip request needs, estimated before it runs.

All candidates are optimised in one batch, so the need grows with -n times: the VQGAN decoder's
activations (with the image area, and its square where the decoder has attention), and each CLIP
model's activations for `cutn` cutouts at its input size. Both are measured on small probes (the
tensors autograd keeps for the backward pass, see artengine.devices.saved_activation_bytes) and scaled up.
"""

from __future__ import annotations

import torch

from artengine.devices import saved_activation_bytes

from .latents import decode, quantize

OVERHEAD = 2.0
"""Gradients and temporaries of the backward pass, on top of the activations it keeps."""
PROBES = (2, 4)
"""Sides, in latent positions, of the two square probes of the decoder."""


def estimate_bytes(request, settings, vqgan, clip_models) -> float:
    width, height = request.size
    factor = int(vqgan.factor)
    area = (width // factor) * (height // factor)
    per_image = _decoder_bytes(vqgan, area)
    for model in clip_models:
        side = _side(model.image_size)
        per_image += settings.cutn * _clip_bytes(model, side, request.device)
    return OVERHEAD * request.count * per_image


def _decoder_bytes(vqgan, area: int) -> float:
    """Bytes per image for `area` latent positions: b*A + c*A^2, fitted to two probes."""
    small, large = (_probe_decoder(vqgan, side) for side in PROBES)
    a1, a2 = PROBES[0] ** 2, PROBES[1] ** 2
    quadratic = max(0.0, (large / a2 - small / a1) / (a2 - a1))
    linear = max(0.0, small / a1 - quadratic * a1)
    return linear * area + quadratic * area * area


def _probe_decoder(vqgan, side: int) -> int:
    codebook = vqgan.codebook.detach()
    z = codebook[torch.zeros(side * side, dtype=torch.long, device=codebook.device)].T.reshape(1, -1, side, side)
    z = z.float().clone().requires_grad_(True)
    return saved_activation_bytes(lambda: decode(vqgan, quantize(z, codebook)), exclude=_weights(vqgan))


def _clip_bytes(model, side: int, device: str) -> int:
    images = torch.full((1, 3, side, side), 0.5, device=device, requires_grad=True)
    return saved_activation_bytes(lambda: model.encode_image(images), exclude=_weights(model))


def _weights(model) -> list[torch.Tensor]:
    module = getattr(model, "network", model)  # a CLIP wrapper keeps its network there
    return list(module.parameters()) + list(module.buffers()) if hasattr(module, "parameters") else []


def _side(image_size) -> int:
    return int(image_size[0] if isinstance(image_size, (tuple, list)) else image_size)
