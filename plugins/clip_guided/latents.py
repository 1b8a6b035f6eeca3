"""The latent side of the algorithm: codebook initialisation, straight-through quantisation,
the range the latents are kept in, and the clamp that keeps useful gradients."""

from __future__ import annotations

import torch


def random_latents(codebook: torch.Tensor, height: int, width: int, generators: list[torch.Generator]) -> torch.Tensor:
    """One latent grid per generator, each position a random codebook entry: B x D x h x w."""
    grids = []
    for generator in generators:
        codes = torch.randint(codebook.shape[0], (height * width,), generator=generator)
        grids.append(codebook[codes.to(codebook.device)].T.reshape(-1, height, width))
    return torch.stack(grids).float()


def quantize(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Each position's nearest codebook vector, with the gradient passed straight to `z`."""
    flat = z.movedim(1, -1).reshape(-1, z.shape[1]).float()
    codebook = codebook.float()
    distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.T + codebook.pow(2).sum(1)
    nearest = codebook[distances.argmin(1)].reshape(*z.shape[:1], *z.shape[2:], z.shape[1]).movedim(-1, 1)
    return z + (nearest.to(z.dtype) - z).detach()


def codebook_range(codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel minimum and maximum of the codebook, shaped to clamp B x D x h x w latents."""
    return codebook.min(0).values[None, :, None, None].float(), codebook.max(0).values[None, :, None, None].float()


class _ClampWithGrad(torch.autograd.Function):
    """Clamp forwards; backwards, pass every gradient except one pushing further out of range."""

    @staticmethod
    def forward(ctx, values, low, high):
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(values)
        return values.clamp(low, high)

    @staticmethod
    def backward(ctx, grad):
        (values,) = ctx.saved_tensors
        # descending moves against grad: keep grad where that moves back towards the range
        outside = values - values.clamp(ctx.low, ctx.high)
        return grad * (grad * outside >= 0), None, None


def clamp_with_grad(values: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return _ClampWithGrad.apply(values, low, high)


def decode(vqgan, z: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] from latents, through the gradient-keeping clamp.

    A taming-layout model's decoder output is clamped here so that the clamp can tell which
    gradients lead back into range; any other model's `decode_latents` is used as it is.
    """
    decoder, post_quant_conv = getattr(vqgan, "decoder", None), getattr(vqgan, "post_quant_conv", None)
    if decoder is None or post_quant_conv is None:
        return clamp_with_grad(vqgan.decode_latents(z))
    return clamp_with_grad((decoder(post_quant_conv(z)) + 1) / 2)
