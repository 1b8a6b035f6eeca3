"""Reading image files (init image, image prompts) and turning tensors back into images."""

from __future__ import annotations

import torch

from artengine.files import read_image


def load_image(path: str, size: tuple[int, int], where: str):
    """The image at `path` as RGB, scaled to cover (width, height) and centre-cropped."""
    from PIL import Image, ImageOps

    return ImageOps.fit(read_image(path, where), size, method=Image.Resampling.LANCZOS)


def to_tensor(image) -> torch.Tensor:
    """An RGB PIL image as a 3 x H x W float tensor in [0, 1]."""
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.reshape(image.height, image.width, 3).permute(2, 0, 1).float() / 255


def to_images(batch: torch.Tensor) -> list:
    """B x 3 x H x W in [0, 1] -> RGB PIL images."""
    from PIL import Image

    pixels = (batch.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
    return [Image.fromarray(frame.numpy(), "RGB") for frame in pixels]


def side_by_side(images: list):
    """One image holding `images` in a row (the preview of several candidates)."""
    from PIL import Image

    if len(images) == 1:
        return images[0]
    width, height = images[0].size
    row = Image.new("RGB", (width * len(images), height))
    for index, image in enumerate(images):
        row.paste(image, (index * width, 0))
    return row
