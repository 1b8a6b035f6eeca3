"""Scenes of the shapes world: what is in an image, and drawing one at random.

A scene is *partial* when some attributes are None (a parsed user prompt that leaves out the
size, say); `realise` fills them in at random and draws the jittered geometry, after which
`render` can paint it. Randomness always comes from a `random.Random` the caller seeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from .vocabulary import (
    BACKGROUNDS,
    CANVAS,
    COLOURS,
    JITTER,
    OMIT_PROBABILITY,
    OPPOSITE,
    PAIR_DISTANCE,
    PAIR_SIDE,
    POSITIONS,
    RELATIONS,
    SHAPES,
    SIZES,
)

ONE_OBJECT_KEYS = ("background", "colour", "shape", "size", "position")
TWO_OBJECT_KEYS = ("background", "first_colour", "first_shape", "relation", "second_colour", "second_shape")
OPTIONAL_PHRASES = {1: ("size", "position", "background"), 2: ("background",)}
"""The caption phrases that may be left out, by number of objects."""


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str | None = None
    """'small' or 'large'; None in two-object scenes (their objects have one size)."""
    position: str | None = None
    """A position phrase such as 'on the left'; None in two-object scenes."""
    side: int | None = None
    """Side of the bounding box in pixels, jitter included."""
    centre: tuple[int, int] | None = None
    """(x, y) of the bounding box's centre, y down, jitter included."""


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: str | None = None
    relation: str | None = None
    """How the first object stands to the second, e.g. 'above'; two-object scenes only."""
    omitted: frozenset[str] = field(default_factory=frozenset)
    """Phrases the caption leaves out although the scene has them ('size', 'position', 'background')."""

    @property
    def complete(self) -> bool:
        """True when every attribute and the geometry are set, so the scene can be rendered."""
        words = [self.background] + ([self.relation] if len(self.objects) == 2 else [])
        words += [o.size for o in self.objects if len(self.objects) == 1]
        words += [o.position for o in self.objects if len(self.objects) == 1]
        return None not in words and all(o.side is not None and o.centre is not None for o in self.objects)

    def attributes(self) -> dict[str, str | None]:
        """The attributes a full caption names, flat; the reader reads the same keys back."""
        if len(self.objects) == 1:
            (thing,) = self.objects
            return {"background": self.background, "colour": thing.colour, "shape": thing.shape,
                    "size": thing.size, "position": thing.position}
        first, second = self.objects
        return {"background": self.background, "first_colour": first.colour, "first_shape": first.shape,
                "relation": self.relation, "second_colour": second.colour, "second_shape": second.shape}

    def named(self) -> dict[str, str]:
        """The attributes its caption names: `attributes()` less the omitted and unknown ones."""
        return {key: value for key, value in self.attributes().items()
                if value is not None and key not in self.omitted}

    def as_dict(self) -> dict[str, Any]:
        """Everything about the scene as JSON-ready data (captions.jsonl, eval --json)."""
        return {
            "background": self.background,
            "objects": [
                {"colour": o.colour, "shape": o.shape, "size": o.size, "position": o.position,
                 "side": o.side, "centre": list(o.centre) if o.centre else None}
                for o in self.objects
            ],
            "relation": self.relation,
            "omitted": sorted(self.omitted),
        }


def _rng(rng: random.Random | int) -> random.Random:
    return rng if isinstance(rng, random.Random) else random.Random(rng)


def _jitter(rng: random.Random) -> int:
    return rng.randint(-JITTER, JITTER)


def sample_scene(rng: random.Random | int, objects: int = 1, omit: bool = True) -> Scene:
    """A random complete scene with `objects` (1 or 2) objects.

    With `omit`, its caption leaves out each optional phrase with probability
    OMIT_PROBABILITY (the attribute is still drawn and painted); without, it names all.
    """
    rng = _rng(rng)
    if objects == 1:
        partial = Scene((SceneObject(rng.choice(list(COLOURS)), rng.choice(SHAPES)),))
    elif objects == 2:
        colours = rng.sample(list(COLOURS), 2)  # the two colours always differ
        partial = Scene(tuple(SceneObject(colour, rng.choice(SHAPES)) for colour in colours))
    else:
        raise ValueError(f"a shapes-world scene has 1 or 2 objects, not {objects!r}")
    scene = realise(partial, rng)
    if omit:
        left_out = frozenset(p for p in OPTIONAL_PHRASES[objects] if rng.random() < OMIT_PROBABILITY)
        scene = replace(scene, omitted=left_out)
    return scene


def realise(scene: Scene, rng: random.Random | int) -> Scene:
    """`scene` with every missing attribute drawn at random and its geometry drawn (with jitter).

    Attributes and geometry already set are kept, so a complete scene comes back unchanged.
    """
    rng = _rng(rng)
    if len(scene.objects) not in (1, 2):
        raise ValueError(f"a shapes-world scene has 1 or 2 objects, not {len(scene.objects)}")
    background = scene.background or rng.choice(list(BACKGROUNDS))
    if len(scene.objects) == 1:
        (thing,) = scene.objects
        size = thing.size or rng.choice(list(SIZES))
        position = thing.position or rng.choice(list(POSITIONS))
        side = thing.side if thing.side is not None else SIZES[size] + _jitter(rng)
        if thing.centre is None:
            x, y = POSITIONS[position]
            centre = (x + _jitter(rng), y + _jitter(rng))
        else:
            centre = thing.centre
        return replace(scene, background=background,
                       objects=(replace(thing, size=size, position=position, side=side, centre=centre),))
    relation = scene.relation or rng.choice(list(RELATIONS))
    dx, dy = RELATIONS[relation]
    half = PAIR_DISTANCE // 2
    middle = CANVAS // 2
    placed = []
    for thing, sign in zip(scene.objects, (1, -1)):  # the first object sits on the relation's side
        side = thing.side if thing.side is not None else PAIR_SIDE + _jitter(rng)
        if thing.centre is None:
            centre = (middle + sign * dx * half + _jitter(rng), middle + sign * dy * half + _jitter(rng))
        else:
            centre = thing.centre
        placed.append(replace(thing, side=side, centre=centre))
    return replace(scene, background=background, relation=relation, objects=tuple(placed))


def mirror(scene: Scene, rng: random.Random | int) -> Scene:
    """A two-object scene's mirror: the same objects, sizes and background, placed the other way
    round (drawn anew, with jitter). Its caption is the scene's with the objects swapped."""
    return realise(replace(scene, relation=OPPOSITE[scene.relation],
                           objects=tuple(replace(thing, centre=None) for thing in scene.objects)), rng)
