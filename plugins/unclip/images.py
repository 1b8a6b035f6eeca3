"""PIL images to tensors and back."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images, size: tuple[int, int]) -> torch.Tensor:
    """RGB PIL images, resized to (width, height) `size`, as B x 3 x H x W floats in [0, 1]."""
    from PIL import Image

    arrays = [np.asarray(image.convert("RGB").resize(size, Image.BICUBIC)) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)


def to_pil(pixels: torch.Tensor):
    """RGB PIL images from B x 3 x H x W floats (clamped to [0, 1])."""
    from PIL import Image

    array = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in array]
