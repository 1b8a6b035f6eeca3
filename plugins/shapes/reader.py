"""Reading a scene's attributes back from pixels, to measure prompt fidelity.

An evaluation tool only: never use it as a scorer or a loss, or generators would learn to
please the reader instead of the prompt, and the measure would stop meaning anything.

How each attribute is read:
- background: the median colour of the two-pixel border, if near one of the backgrounds;
- object pixels: those whose nearest colour (background or the eight object colours) is not
  the background; objects are their 4-connected components, largest first;
- colour: the most common nearest object colour among the half of an object's pixels that
  differ most from the background (its edges, blurred or blended, tell less);
- shape: for each shape, the one with the object's area and centroid is drawn; the shape whose
  drawing overlaps the object best (intersection over union) wins, if it overlaps by MIN_IOU;
- size: the side that the winning shape needs for the object's area, small below SIZE_SPLIT;
- position: the nearest of the five centres to the box centre of the winning shape;
- relation: the axis along which the two objects' centres are further apart.
An attribute that cannot be read is None, which counts as wrong.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .render import shape_mask
from .scene import ONE_OBJECT_KEYS, TWO_OBJECT_KEYS, Scene
from .vocabulary import BACKGROUNDS, CANVAS, COLOURS, OPPOSITE, PAIR_SIDE, POSITIONS, SHAPES, SIZES

if TYPE_CHECKING:
    from PIL.Image import Image

BORDER = 2
BACKGROUND_TOLERANCE = 60.0
"""Largest distance (RGB) from the border's median colour to a background for it to count."""
FILL = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5, "diamond": 0.5}
"""Share of its bounding box each shape covers."""
MIN_IOU = 0.5
SIZE_SPLIT = (SIZES["small"] + SIZES["large"]) / 2
MIN_AREA = 20
"""Fewer pixels than this are specks, not objects."""
MAX_AREA = {1: 1.5 * (SIZES["large"] + 2) ** 2, 2: 1.5 * (PAIR_SIDE + 2) ** 2}
"""More pixels than this are no object of the world (a filled canvas, noise)."""

_COLOUR_NAMES = list(COLOURS)
_COLOUR_VALUES = np.array(list(COLOURS.values()), dtype=np.float64)


def read_attributes(image: "Image", objects: int | None = None) -> dict:
    """The attributes of `image` under the keys of `Scene.attributes()`, plus "objects".

    `objects` (1 or 2) says how many objects to look for; None guesses from the image.
    Any RGB image works; it is resized to 64 x 64 first. Unreadable attributes are None.
    """
    pixels = _pixels(image)
    background, reference = _read_background(pixels)
    palette = np.vstack([reference[None, :], _COLOUR_VALUES])
    distances = ((pixels[:, :, None, :] - palette[None, None, :, :]) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=-1)  # 0: background, i: object colour i - 1
    components = _components(labels > 0)
    if objects is None:
        plausible = [c for c in components if MIN_AREA <= len(c[0]) <= MAX_AREA[1]]
        objects = 2 if len(plausible) >= 2 else 1
    if objects not in (1, 2):
        raise ValueError(f"a shapes-world image has 1 or 2 objects, not {objects!r}")
    found = [_read_object(c, labels, pixels, reference) if MIN_AREA <= len(c[0]) <= MAX_AREA[objects] else None
             for c in components[:objects]]
    found += [None] * (objects - len(found))
    if objects == 1:
        return {"objects": 1, "background": background} | _one_object(found[0])
    return {"objects": 2, "background": background} | _two_objects(*found)


def grade(scene: Scene, reading: dict) -> dict[str, bool]:
    """Which of the scene's attributes the reading got right.

    Two objects can be described either way round ('A left of B' is 'B right of A'): the
    description that agrees with the scene on more attributes is graded.
    """
    truth = {key: value for key, value in scene.attributes().items() if value is not None}
    descriptions = [reading, swap(reading)] if len(scene.objects) == 2 else [reading]
    marks = [{key: reading_.get(key) == value for key, value in truth.items()} for reading_ in descriptions]
    return max(marks, key=lambda m: sum(m.values()))


def swap(reading: dict) -> dict:
    """The same two-object reading described from the other object."""
    swapped = dict(reading)
    for key in ("colour", "shape"):
        swapped[f"first_{key}"], swapped[f"second_{key}"] = reading.get(f"second_{key}"), reading.get(f"first_{key}")
    swapped["relation"] = OPPOSITE.get(reading.get("relation"))
    return swapped


def _pixels(image: "Image") -> np.ndarray:
    from PIL import Image as PILImage

    image = image.convert("RGB")
    if image.size != (CANVAS, CANVAS):
        image = image.resize((CANVAS, CANVAS), PILImage.BOX)
    return np.asarray(image, dtype=np.float64)


def _read_background(pixels: np.ndarray) -> tuple[str | None, np.ndarray]:
    """(background word or None, the colour that object pixels are told apart from)."""
    ring = np.concatenate([pixels[:BORDER].reshape(-1, 3), pixels[-BORDER:].reshape(-1, 3),
                           pixels[:, :BORDER].reshape(-1, 3), pixels[:, -BORDER:].reshape(-1, 3)])
    median = np.median(ring, axis=0)
    name, value = min(BACKGROUNDS.items(), key=lambda item: np.linalg.norm(median - item[1]))
    if np.linalg.norm(median - value) > BACKGROUND_TOLERANCE:
        return None, median
    return name, np.array(value, dtype=np.float64)


def _components(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """4-connected components of `mask` as (ys, xs) arrays, largest first."""
    height, width = mask.shape
    todo = mask.ravel().tolist()
    found = []
    for start, on in enumerate(todo):
        if not on:
            continue
        todo[start] = False
        stack, members = [start], []
        while stack:
            index = stack.pop()
            members.append(index)
            y, x = divmod(index, width)
            for neighbour, inside in ((index - width, y > 0), (index + width, y < height - 1),
                                      (index - 1, x > 0), (index + 1, x < width - 1)):
                if inside and todo[neighbour]:
                    todo[neighbour] = False
                    stack.append(neighbour)
        ys, xs = np.divmod(np.array(members), width)
        found.append((ys, xs))
    return sorted(found, key=lambda c: -len(c[0]))


def _colour(component, labels: np.ndarray, pixels: np.ndarray, reference: np.ndarray) -> str:
    ys, xs = component
    far = ((pixels[ys, xs] - reference) ** 2).sum(axis=1)
    core = far >= np.median(far)
    return _COLOUR_NAMES[int(np.bincount(labels[ys, xs][core] - 1).argmax())]


def _read_object(component, labels: np.ndarray, pixels: np.ndarray, reference: np.ndarray) -> dict:
    """colour, shape (or None), side and box centre of one object's pixels."""
    ys, xs = component
    area = len(ys)
    colour = _colour(component, labels, pixels, reference)
    observed = np.zeros(labels.shape, dtype=bool)
    observed[ys, xs] = True
    centroid = (xs.mean() + 0.5, ys.mean() + 0.5)
    best = None
    for shape in SHAPES:
        side = math.sqrt(area / FILL[shape])
        # a triangle's centroid lies a third of the way up from its base, below the box centre
        centre = (centroid[0], centroid[1] - side / 6) if shape == "triangle" else centroid
        drawn = shape_mask(shape, side, centre, size=labels.shape[0])
        iou = (drawn & observed).sum() / (drawn | observed).sum()
        if best is None or iou > best["iou"]:
            best = {"iou": iou, "shape": shape, "side": side, "centre": centre}
    return {"colour": colour, "shape": best["shape"] if best["iou"] >= MIN_IOU else None,
            "side": best["side"], "centre": best["centre"]}


def _one_object(found: dict | None) -> dict:
    if found is None:
        return dict.fromkeys(ONE_OBJECT_KEYS[1:])
    x, y = found["centre"]
    position = min(POSITIONS, key=lambda p: (POSITIONS[p][0] - x) ** 2 + (POSITIONS[p][1] - y) ** 2)
    size = "small" if found["side"] < SIZE_SPLIT else "large"
    return {"colour": found["colour"], "shape": found["shape"], "size": size, "position": position}


def _two_objects(first: dict | None, second: dict | None) -> dict:
    if first is None:
        first, second = second, first
    if first is None:
        return dict.fromkeys(TWO_OBJECT_KEYS[1:])
    relation = None
    if second is not None:
        dx = second["centre"][0] - first["centre"][0]
        dy = second["centre"][1] - first["centre"][1]
        horizontal = abs(dx) >= abs(dy)
        if (dx if horizontal else dy) < 0:  # describe from the left or upper object
            first, second = second, first
        relation = "to the left of" if horizontal else "above"
    reading = {"first_colour": first["colour"], "first_shape": first["shape"], "relation": relation,
               "second_colour": None, "second_shape": None}
    if second is not None:
        reading |= {"second_colour": second["colour"], "second_shape": second["shape"]}
    return reading
