"""How much memory a batch of unCLIP candidates needs, before the first step."""

from __future__ import annotations


def estimate_bytes(model, batch: int) -> float:
    """The weights, plus activations of the guided batch (2 x batch rows) through the decoder:
    a generous 64 floats of 4 bytes per output pixel and row, which covers the UNet's widest
    levels at these sizes."""
    import torch

    weights = 0
    for value in vars(model).values():
        modules = value.components.values() if hasattr(value, "components") else [value]
        for module in modules:
            if isinstance(module, torch.nn.Module):
                weights += sum(p.numel() * p.element_size() for p in module.parameters())
    width, height = model.image_size
    return weights + 2 * batch * width * height * 64 * 4
