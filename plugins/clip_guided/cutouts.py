"""Cutouts of the images for CLIP, made and augmented in a few batched tensor operations.

The textbook cuts each cutout in a Python loop, resizes it alone and augments the stack. Here
every geometric step (crop, resize, flip, affine, perspective) of every cutout is one 3x3
matrix; all cutouts are then sampled from the images by a single `grid_sample`. Colour jitter
is a per-cutout colour matrix and the noise one batched addition. Each candidate draws its
random parameters from its own generator, so candidate i depends on seeds[i] alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .latents import clamp_with_grad

# How strong each augmentation is; each is applied to a cutout with probability P_APPLY.
P_APPLY = 0.7
MAX_ROTATION = math.radians(15)
MAX_ZOOM = 0.1
MAX_SHIFT = 0.1  # share of the cutout's side
MAX_CORNER_SHIFT = 0.2  # perspective: share of the cutout's side each corner may move
MAX_BRIGHTNESS, MAX_CONTRAST, MAX_SATURATION = 0.1, 0.1, 0.1
MAX_HUE = math.radians(18)
MAX_NOISE = 0.1
# The random numbers of one cutout, drawn whatever the augmentations so that the stream is stable
SIDE, LEFT, TOP = 0, 1, 2
AFFINE = slice(3, 8)  # apply?, angle, zoom, shift x, shift y
PERSPECTIVE = slice(8, 17)  # apply?, 8 corner shifts
FLIP = 17
COLOUR = slice(18, 23)  # apply?, brightness, contrast, saturation, hue
NOISE = 23
DRAWS = 24

# RGB <-> YIQ: hue turns and saturation scales the chroma plane (I, Q)
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)


class Cutouts:
    """`cutouts(images, size)`: (B * count) x 3 x size x size, candidate-major (b * count + c)."""

    def __init__(self, count: int, cut_pow: float, augment: frozenset[str],
                 generators: list[torch.Generator], noise_generators: list[torch.Generator]):
        self.count, self.cut_pow, self.augment = count, cut_pow, augment
        self.generators, self.noise_generators = generators, noise_generators

    def __call__(self, images: torch.Tensor, size: int) -> torch.Tensor:
        batch, _, height, width = images.shape
        draws = torch.cat([torch.rand(self.count, DRAWS, generator=g, dtype=torch.float64) for g in self.generators])
        smallest = min(width, height, size)
        sides = (draws[:, SIDE] ** self.cut_pow * (min(width, height) - smallest) + smallest).floor()
        geometry = self._geometry(draws, sides, width, height).to(images.device, torch.float32)
        source = _prefilter(images, int(smallest) // size)
        sampled = _sample(source, geometry, self.count, size)
        if "colour" in self.augment:
            sampled = clamp_with_grad(_jitter_colour(sampled, draws[:, COLOUR].to(images.device, torch.float32)))
        if "noise" in self.augment:
            sampled = sampled + self._noise(draws[:, NOISE], sampled)
        return sampled

    def _geometry(self, draws, sides, width, height) -> torch.Tensor:
        """Output-to-input sampling matrices, N x 3 x 3, in normalised coordinates."""
        n = draws.shape[0]
        left = (draws[:, LEFT] * (width - sides + 1)).floor()
        top = (draws[:, TOP] * (height - sides + 1)).floor()
        matrix = torch.zeros(n, 3, 3, dtype=torch.float64)
        matrix[:, 0, 0], matrix[:, 0, 2] = sides / width, (2 * left + sides) / width - 1
        matrix[:, 1, 1], matrix[:, 1, 2] = sides / height, (2 * top + sides) / height - 1
        matrix[:, 2, 2] = 1
        if "affine" in self.augment:
            matrix = matrix @ _affine(draws[:, AFFINE])
        if "perspective" in self.augment:
            matrix = matrix @ _perspective(draws[:, PERSPECTIVE])
        if "flip" in self.augment:
            flip = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
            flip[:, 0, 0] = torch.where(draws[:, FLIP] < 0.5, -1.0, 1.0)
            matrix = matrix @ flip
        return matrix

    def _noise(self, factors: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
        shape = (self.count, *sampled.shape[1:])
        noise = torch.cat([torch.randn(shape, generator=g, device=sampled.device) for g in self.noise_generators])
        scale = (factors * MAX_NOISE).to(sampled.device, sampled.dtype)[:, None, None, None]
        return noise.to(sampled.dtype) * scale


def _prefilter(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool by the smallest downscale every cutout undergoes, against aliasing."""
    if factor < 2 or images.shape[-1] % factor or images.shape[-2] % factor:
        return images
    return F.avg_pool2d(images, factor)


def _sample(images: torch.Tensor, matrices: torch.Tensor, count: int, size: int) -> torch.Tensor:
    steps = (torch.arange(size, device=images.device, dtype=torch.float32) * 2 + 1) / size - 1
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    points = torch.stack([x, y, torch.ones_like(x)], -1).reshape(1, -1, 3)  # 1 x size^2 x 3
    mapped = points @ matrices.transpose(1, 2)  # N x size^2 x 3
    grid = (mapped[..., :2] / mapped[..., 2:]).reshape(-1, size, size, 2)
    batch = images.shape[0]
    source = images.expand(count, -1, -1, -1) if batch == 1 else images.repeat_interleave(count, dim=0)
    return F.grid_sample(source, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def _affine(draws: torch.Tensor) -> torch.Tensor:
    """Turn, zoom and shift about the cutout's centre, for the cutouts whose first draw says so."""
    apply = (draws[:, 0] < P_APPLY).double()
    angle = (draws[:, 1] * 2 - 1) * MAX_ROTATION * apply
    zoom = 1 + (draws[:, 2] * 2 - 1) * MAX_ZOOM * apply
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    matrix = torch.zeros(draws.shape[0], 3, 3, dtype=torch.float64)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 0, 2] = cos, -sin, (draws[:, 3] * 2 - 1) * MAX_SHIFT * 2 * apply
    matrix[:, 1, 0], matrix[:, 1, 1], matrix[:, 1, 2] = sin, cos, (draws[:, 4] * 2 - 1) * MAX_SHIFT * 2 * apply
    matrix[:, 2, 2] = 1
    return matrix


def _perspective(draws: torch.Tensor) -> torch.Tensor:
    """The homography taking the cutout's corners to corners each moved by a random amount."""
    apply = (draws[:, 0] < P_APPLY).double()[:, None, None]
    shifts = (draws[:, 1:9] * 2 - 1).reshape(-1, 4, 2) * MAX_CORNER_SHIFT * 2 * apply
    targets = _CORNERS + shifts
    n = draws.shape[0]
    system = torch.zeros(n, 8, 8, dtype=torch.float64)
    for i, (x, y) in enumerate(_CORNERS.tolist()):
        u, v = targets[:, i, 0], targets[:, i, 1]
        system[:, 2 * i, 0], system[:, 2 * i, 1], system[:, 2 * i, 2] = x, y, 1
        system[:, 2 * i, 6], system[:, 2 * i, 7] = -u * x, -u * y
        system[:, 2 * i + 1, 3], system[:, 2 * i + 1, 4], system[:, 2 * i + 1, 5] = x, y, 1
        system[:, 2 * i + 1, 6], system[:, 2 * i + 1, 7] = -v * x, -v * y
    solution = torch.linalg.solve(system, targets.reshape(n, 8))
    return torch.cat([solution, torch.ones(n, 1, dtype=torch.float64)], 1).reshape(n, 3, 3)


def _jitter_colour(images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation and hue, each cutout its own, as one colour matrix."""
    apply = (draws[:, 0] < P_APPLY).to(images.dtype)
    brightness = (draws[:, 1] * 2 - 1) * MAX_BRIGHTNESS * apply
    contrast = 1 + (draws[:, 2] * 2 - 1) * MAX_CONTRAST * apply
    saturation = 1 + (draws[:, 3] * 2 - 1) * MAX_SATURATION * apply
    hue = (draws[:, 4] * 2 - 1) * MAX_HUE * apply
    yiq = _YIQ.to(images.device, images.dtype)
    chroma = torch.zeros(images.shape[0], 3, 3, device=images.device, dtype=images.dtype)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = saturation * torch.cos(hue), -saturation * torch.sin(hue)
    chroma[:, 2, 1], chroma[:, 2, 2] = saturation * torch.sin(hue), saturation * torch.cos(hue)
    matrix = torch.linalg.inv(yiq) @ chroma @ yiq  # N x 3 x 3
    turned = torch.einsum("nij,njhw->nihw", matrix, images)
    mean = turned.mean(dim=(1, 2, 3), keepdim=True)
    return (turned - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]
