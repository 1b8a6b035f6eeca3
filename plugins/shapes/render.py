"""Painting a scene: flat colours, exact geometry, no anti-aliasing.

Pixel (x, y) covers the unit square [x, x+1) x [y, y+1); a centre (32, 32) is the middle of
the canvas. A pixel is painted when its centre lies inside the shape. Centres that lie exactly
on an edge (many do: diamond and triangle edges, odd sides) are decided by sampling a hair to
the right of the centre and a smaller hair below it: the pixel is painted on a left or top
edge, not on a right or bottom edge. So a box of side s covers exactly s x s pixels and
no edge pixel is painted twice by shapes that share that edge.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from .scene import Scene
from .vocabulary import BACKGROUNDS, CANVAS, COLOURS

NUDGE_X = 1e-3
NUDGE_Y = NUDGE_X / 3  # unequal, so that no diagonal edge is left to floating-point rounding


@lru_cache(maxsize=4)
def _sample_points(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return xs + 0.5 + NUDGE_X, ys + 0.5 + NUDGE_Y


def shape_mask(shape: str, side: float, centre: tuple[float, float], size: int = CANVAS) -> np.ndarray:
    """size x size booleans (rows are y): the pixels `shape` covers in a box of `side` around `centre`."""
    xs, ys = _sample_points(size)
    dx, dy = xs - centre[0], ys - centre[1]
    half = side / 2
    if shape == "square":
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "circle":  # the disc inscribed in the box
        return dx * dx + dy * dy <= half * half
    if shape == "triangle":  # apex at the top edge's middle, base along the bottom edge
        return (dy >= -half) & (dy <= half) & (np.abs(dx) <= (dy + half) / 2)
    if shape == "diamond":  # corners at the middles of the box's edges
        return np.abs(dx) + np.abs(dy) <= half
    raise ValueError(f"unknown shape {shape!r}")


def render_array(scene: Scene) -> np.ndarray:
    """The scene as a CANVAS x CANVAS x 3 uint8 array."""
    if not scene.complete:
        raise ValueError("render needs a complete scene; fill in missing attributes with realise(scene, rng)")
    canvas = np.empty((CANVAS, CANVAS, 3), dtype=np.uint8)
    canvas[:] = BACKGROUNDS[scene.background]
    for thing in scene.objects:
        canvas[shape_mask(thing.shape, thing.side, thing.centre)] = COLOURS[thing.colour]
    return canvas


def render(scene: Scene) -> Image.Image:
    """The scene as a 64 x 64 RGB PIL image."""
    return Image.fromarray(render_array(scene), "RGB")
