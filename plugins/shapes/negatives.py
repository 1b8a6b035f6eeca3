"""What contrastive training asks of shapes-world captions (the `shapes` dataset's
`hard_negatives` and `compatible`).

A caption with one named attribute changed is false for every image the caption fits, so
ranking the image's caption above it teaches that colour, shape, size, position, background
and relation each matter. Two captions are compatible when one image could fit both (one
leaves out what the other names, or names two objects the other way round): a batch must
not hold both, since contrastive loss counts every other caption as false.
"""

from __future__ import annotations

import random
from functools import lru_cache

from artengine import UsageError

from .captions import caption, parse_caption
from .scene import Scene, SceneObject
from .vocabulary import BACKGROUNDS, COLOURS, OPPOSITE, POSITIONS, RELATIONS, SHAPES, SIZES

# The attributes a hard negative may change, in the order they are offered (the draw depends on it).
ONE_OBJECT_CHOICES = (("colour", COLOURS), ("shape", SHAPES), ("size", SIZES), ("position", POSITIONS),
                      ("background", BACKGROUNDS))
TWO_OBJECT_CHOICES = (("first_colour", COLOURS), ("first_shape", SHAPES), ("background", BACKGROUNDS),
                      ("relation", RELATIONS), ("second_colour", COLOURS), ("second_shape", SHAPES))


@lru_cache(maxsize=65536)  # batches ask about the same few thousand captions again and again
def attributes(text: str) -> dict[str, str | None] | None:
    """The caption's attributes (None where it leaves one out), or None outside the grammar."""
    try:
        scene = parse_caption(text)
    except UsageError:
        return None
    return scene.attributes()


def text(attributes: dict[str, str | None]) -> str:
    """The caption naming `attributes` (one object's keys or two objects')."""
    if "relation" in attributes:
        scene = Scene((SceneObject(attributes["first_colour"], attributes["first_shape"]),
                       SceneObject(attributes["second_colour"], attributes["second_shape"])),
                      attributes["background"], attributes["relation"])
    else:
        scene = Scene((SceneObject(attributes["colour"], attributes["shape"], attributes["size"],
                                   attributes["position"]),), attributes["background"])
    return caption(scene)


def hard_negatives(caption_text: str, count: int, rng: random.Random) -> list[str]:
    """Up to `count` distinct captions, each with one named attribute changed, so all false;
    none for text outside the grammar.

    The attribute is drawn first, then its new value, so that the two sizes get as much
    attention as the eight colours.
    """
    named = attributes(caption_text)
    if named is None:
        return []
    two = "relation" in named
    options: dict[str, list[str]] = {}
    for key, values in TWO_OBJECT_CHOICES if two else ONE_OBJECT_CHOICES:
        if named[key] is not None:
            options[key] = [text({**named, key: value}) for value in values if value != named[key]]
    if two:  # the same relation with the objects swapped is false too
        options["swap"] = [text({**named, "first_colour": named["second_colour"], "first_shape": named["second_shape"],
                                 "second_colour": named["first_colour"], "second_shape": named["first_shape"]})]
    itself = text(named)
    chosen: list[str] = []
    keys = list(options)
    while len(chosen) < count and keys:
        key = rng.choice(keys)
        remaining = [c for c in options[key] if c not in chosen and c != itself]
        if not remaining:
            keys.remove(key)
            continue
        chosen.append(rng.choice(remaining))
    return chosen


def compatible(a: str, b: str) -> bool:
    """Whether one shapes-world image could fit both captions: nothing named in both differs.
    Text outside the grammar is compatible only with itself."""
    if a == b:
        return True
    first, second = attributes(a), attributes(b)
    if first is None or second is None or ("relation" in first) != ("relation" in second):
        return False
    if None not in (first["background"], second["background"]) and first["background"] != second["background"]:
        return False
    if "relation" not in first:
        return all(first[key] == second[key] or None in (first[key], second[key])
                   for key in ("colour", "shape", "size", "position"))
    pair = tuple(first[key] for key in ("first_colour", "first_shape", "relation", "second_colour", "second_shape"))
    return pair in ((second["first_colour"], second["first_shape"], second["relation"], second["second_colour"],
                     second["second_shape"]),
                    (second["second_colour"], second["second_shape"], OPPOSITE[second["relation"]],
                     second["first_colour"], second["first_shape"]))
