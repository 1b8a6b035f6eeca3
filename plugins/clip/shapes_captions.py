"""The shapes-world caption grammar, as far as CLIP training needs it.

Training uses it to make hard negatives: a caption with one named attribute changed is false
for the image, so contrasting against it teaches that colour, shape, size, position,
background and relation each matter. Evaluation uses it to find the full captions.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink")
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES = ("small", "large")
POSITIONS = ("in the center", "on the left", "on the right", "at the top", "at the bottom")
BACKGROUNDS = ("black", "white", "gray")
RELATIONS = ("to the left of", "to the right of", "above", "below")


def _alternatives(words) -> str:
    return "|".join(re.escape(word) for word in words)


_BACKGROUND = rf"(?: on a (?P<background>{_alternatives(BACKGROUNDS)}) background)?"
_ONE = re.compile(
    rf"^a (?:(?P<size>{_alternatives(SIZES)}) )?(?P<colour>{_alternatives(COLOURS)}) (?P<shape>{_alternatives(SHAPES)})"
    rf"(?: (?P<position>{_alternatives(POSITIONS)}))?{_BACKGROUND}$"
)
_TWO = re.compile(
    rf"^a (?P<colour>{_alternatives(COLOURS)}) (?P<shape>{_alternatives(SHAPES)}) (?P<relation>{_alternatives(RELATIONS)}) "
    rf"a (?P<colour2>{_alternatives(COLOURS)}) (?P<shape2>{_alternatives(SHAPES)}){_BACKGROUND}$"
)


@dataclass(frozen=True)
class Caption:
    """A parsed caption; None marks an attribute the caption leaves out."""

    colour: str
    shape: str
    size: str | None = None
    position: str | None = None
    background: str | None = None
    relation: str | None = None  # set for two objects
    colour2: str | None = None
    shape2: str | None = None

    @property
    def two_objects(self) -> bool:
        return self.relation is not None

    @property
    def full(self) -> bool:
        """Every attribute the grammar allows is named."""
        named = (self.background,) if self.two_objects else (self.size, self.position, self.background)
        return all(value is not None for value in named)

    def text(self) -> str:
        background = f" on a {self.background} background" if self.background else ""
        if self.two_objects:
            return f"a {self.colour} {self.shape} {self.relation} a {self.colour2} {self.shape2}{background}"
        words = ["a", self.size, self.colour, self.shape, self.position]
        return " ".join(w for w in words if w) + background


def parse(text: str) -> Caption | None:
    """The caption's attributes, or None when it is not in the shapes-world grammar."""
    text = " ".join(text.lower().split())
    match = _TWO.match(text) or _ONE.match(text)
    return Caption(**match.groupdict()) if match else None


def hard_negatives(caption: Caption, count: int, rng: random.Random) -> list[str]:
    """Up to `count` distinct captions, each with one named attribute changed, so all false.

    The attribute is drawn first, then its new value, so that the two sizes get as much
    attention as the eight colours.
    """
    options: dict[str, list[Caption]] = {}
    for field, values in (("colour", COLOURS), ("shape", SHAPES), ("size", SIZES), ("position", POSITIONS),
                          ("background", BACKGROUNDS), ("relation", RELATIONS), ("colour2", COLOURS), ("shape2", SHAPES)):
        current = getattr(caption, field)
        if current is not None:
            options[field] = [replace(caption, **{field: value}) for value in values if value != current]
    if caption.two_objects:  # the same relation with the objects swapped is false too
        options["swap"] = [replace(caption, colour=caption.colour2, shape=caption.shape2,
                                   colour2=caption.colour, shape2=caption.shape)]
    chosen: list[str] = []
    fields = list(options)
    while len(chosen) < count and fields:
        field = rng.choice(fields)
        remaining = [c.text() for c in options[field] if c.text() not in chosen and c.text() != caption.text()]
        if not remaining:
            fields.remove(field)
            continue
        chosen.append(rng.choice(remaining))
    return chosen
