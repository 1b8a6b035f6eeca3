"""The shapes world in one import: scenes, captions, rendering (docs/shapes-world.md).

    from artengine.plugins.shapes.world import sample_scene, caption, render, parse_caption, realise
    scene = sample_scene(random.Random(0), objects=1)
    image, text = render(scene), caption(scene)

Other plugins reach the world through the registry (`open_dataset("shapes")`), not this module.
"""

from .captions import GRAMMAR, caption, parse_caption
from .render import render, render_array, shape_mask
from .scene import Scene, SceneObject, realise, sample_scene
from .vocabulary import BACKGROUNDS, CANVAS, COLOURS, POSITIONS, RELATIONS, SHAPES, SIZES

__all__ = [
    "BACKGROUNDS",
    "CANVAS",
    "COLOURS",
    "GRAMMAR",
    "POSITIONS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "Scene",
    "SceneObject",
    "caption",
    "parse_caption",
    "realise",
    "render",
    "render_array",
    "sample_scene",
    "shape_mask",
]
