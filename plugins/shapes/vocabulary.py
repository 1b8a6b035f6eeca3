"""The words and numbers of the shapes world (docs/shapes-world.md), in one place.

Everything else (renderer, captions, reader, docs tables) reads these tables; extend the
world only by adding entries, never by changing the ones here.
"""

from __future__ import annotations

CANVAS = 64
"""Width and height of every image, in pixels."""

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
}

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 60, 190),
    "orange": (250, 140, 20),
    "cyan": (40, 200, 210),
    "pink": (250, 130, 190),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")

SIZES: dict[str, int] = {"small": 14, "large": 26}
"""Side of the bounding box, before jitter."""

POSITIONS: dict[str, tuple[int, int]] = {
    "in the center": (32, 32),
    "on the left": (18, 32),
    "on the right": (46, 32),
    "at the top": (32, 18),
    "at the bottom": (32, 46),
}
"""Object centre (x, y), y pointing down, before jitter."""

RELATIONS: dict[str, tuple[int, int]] = {
    "to the left of": (-1, 0),
    "to the right of": (1, 0),
    "above": (0, -1),
    "below": (0, 1),
}
"""Direction from the second object to the first: 'A to the left of B' puts A at B + 24 * (-1, 0)."""

OPPOSITE: dict[str, str] = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}

JITTER = 2
"""Sides and centre coordinates each move by a whole number of pixels in [-JITTER, JITTER]."""

PAIR_SIDE = 16
"""Side of both objects in a two-object scene, before jitter."""

PAIR_DISTANCE = 24
"""Distance between the two objects' centres along the relation's axis, before jitter."""

OMIT_PROBABILITY = 0.3
"""Chance that a training caption leaves out each optional phrase (size, position, background)."""

OBJECT_CHOICES = ("1", "2", "mixed")
"""How many objects dataset images hold: always 1, always 2, or either with equal chance."""
