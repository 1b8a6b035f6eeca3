"""Image-caption pairs to tensors: the one conversion training and evaluation share."""

from __future__ import annotations

from typing import Sequence

import numpy
import torch
from PIL import Image, ImageOps


def to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """An RGB image as 3 x size x size floats in [0, 1], centre-cropped and resized if needed."""
    image = image.convert("RGB")
    if image.size != (size, size):
        image = ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(numpy.asarray(image, dtype=numpy.uint8).copy()).permute(2, 0, 1).float() / 255


def batch(pairs: Sequence, indices, size: int) -> torch.Tensor:
    """Images B x 3 x size x size in [0, 1] of the pairs at `indices`."""
    return torch.stack([to_tensor(pairs[int(index)][0], size) for index in indices])


def to_images(tensor: torch.Tensor) -> list[Image.Image]:
    """Images B x 3 x H x W in [0, 1] as RGB PIL images."""
    array = (tensor.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(item, "RGB") for item in array]
