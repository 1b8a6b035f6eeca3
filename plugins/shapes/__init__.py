"""The shapes world, built in: a synthetic image-caption domain every model can train and be
measured on offline (docs/shapes-world.md).

Registers the `shapes` dataset and the commands `artengine data shapes` and
`artengine eval shapes`. This module stays light (no numpy, no torch); rendering and
reading live in sibling modules imported when used.
"""

from __future__ import annotations

import artengine
from artengine import Dataset, Option

from .vocabulary import OBJECT_CHOICES


class ShapesDataset(Dataset):
    name = "shapes"
    description = "Synthetic 64x64 images of coloured shapes with their captions (docs/shapes-world.md)."
    options = (
        Option("objects", str, "mixed", "Objects per image: 1, 2, or mixed (either, equally often).",
               choices=OBJECT_CHOICES),
        Option("omit", bool, True, "Let captions leave out the optional phrases (size, position, background)."),
        Option("one_object_share", float, 0.5, "With objects=mixed: the share of one-object images.", min=0.0, max=1.0),
    )

    def pairs(self, count: int, seed: int):
        from .dataset import ShapesPairs

        return ShapesPairs(count, seed, objects=self.settings["objects"], omit=self.settings["omit"],
                           one_object_share=self.settings["one_object_share"])

    def evaluation_pairs(self, count: int, seed: int):
        """The same scenes with full captions (every phrase named)."""
        from .dataset import ShapesPairs

        return ShapesPairs(count, seed, objects=self.settings["objects"], omit=False,
                           one_object_share=self.settings["one_object_share"])

    def hard_negatives(self, caption: str, count: int, rng) -> list[str]:
        from .negatives import hard_negatives

        return hard_negatives(caption, count, rng)

    def compatible(self, a: str, b: str) -> bool:
        from .negatives import compatible

        return compatible(a, b)


@artengine.hookimpl
def register_datasets(register):
    register(ShapesDataset)


@artengine.hookimpl
def register_commands(cli):
    from .data_command import data_shapes
    from .eval_command import eval_shapes

    cli.commands["data"].add_command(data_shapes)
    cli.commands["eval"].add_command(eval_shapes)
