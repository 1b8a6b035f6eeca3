"""Image-caption pairs of the shapes world, rendered on access.

Pair i depends only on (seed, i): the first pairs of a long sequence are the pairs of a
short one, and any pair can be remade alone. The sequence has len and indexing, so it can be
handed to a torch DataLoader as it is.
"""

from __future__ import annotations

import hashlib
import operator
import random
from collections.abc import Sequence

from .captions import caption
from .render import render
from .scene import Scene, sample_scene
from .vocabulary import OBJECT_CHOICES


def pair_seed(seed: int, index: int) -> int:
    """The seed of pair `index` in the sequence of `seed` (stable across Python runs)."""
    digest = hashlib.sha256(f"shapes:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class ShapesPairs(Sequence):
    """`count` (64 x 64 RGB image, [caption]) pairs of the shapes world for `seed`."""

    def __init__(self, count: int, seed: int, objects: str = "mixed", omit: bool = True,
                 one_object_share: float = 0.5):
        if not 0.0 <= one_object_share <= 1.0:
            raise ValueError(f"one_object_share must be within [0, 1], not {one_object_share}")
        if count < 0:
            raise ValueError(f"count must be at least 0, not {count}")
        if objects not in OBJECT_CHOICES:
            raise ValueError(f"objects must be one of {', '.join(OBJECT_CHOICES)}, not {objects!r}")
        self.count, self.seed, self.objects, self.omit = count, seed, objects, omit
        self.one_object_share = one_object_share

    def __len__(self) -> int:
        return self.count

    def scene(self, index: int) -> Scene:
        """The scene behind pair `index`."""
        index = self._check(index)
        rng = random.Random(pair_seed(self.seed, index))
        if self.objects != "mixed":
            objects = int(self.objects)
        elif self.one_object_share == 0.5:  # the draw datasets made before the option have, kept for their seeds
            objects = rng.choice((1, 2))
        else:
            objects = 1 if rng.random() < self.one_object_share else 2
        return sample_scene(rng, objects, omit=self.omit)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        scene = self.scene(index)
        return render(scene), [caption(scene)]

    def _check(self, index: int) -> int:
        index = operator.index(index)  # numpy and torch integers too
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(f"pair {index} is out of range for {self.count} pairs")
        return index
