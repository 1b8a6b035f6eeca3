"""Loss terms for optimising generators (vqgan-clip and any other), one small class each.

Chosen with `--loss NAME:WEIGHT` or a `[losses.NAME]` table. Each term returns the mean over
the batch of a per-image value, so that a generator optimising several candidates at once can
scale the sum back to what each candidate would get alone. What each one needs from the
generator's `context` (an `artengine.LossContext`) is listed in docs/vqgan-clip.md. This module imports no torch; the
arithmetic lives in `terms.py`.
"""

from __future__ import annotations

import artengine
from artengine import Loss, Option, UsageError

from .colours import parse_colours


class ClipLoss(Loss):
    name = "clip"
    description = "The main term: spherical distance between CLIP embeddings of cutouts and the prompt."
    options = (
        Option("prompt", str, "",
               "Steer towards this prompt instead of the request's (same syntax: text:weight|other:-1).",),
    )

    def __init__(self, options, device):
        super().__init__(options, device)
        self.prompt = artengine.parse_prompt(self.settings["prompt"], "losses.clip.prompt") if self.settings["prompt"] else None

    def __call__(self, images, context):
        from .terms import clip_distance

        return clip_distance(images, context, self.prompt)


class TotalVariationLoss(Loss):
    name = "tv"
    description = "Smoothness: the mean squared difference between neighbouring pixels."

    def __call__(self, images, context):
        from .terms import total_variation

        return total_variation(images)


class SymmetryLoss(Loss):
    name = "symmetry"
    description = "Mirror symmetry: the mean absolute difference between the image and its mirror."
    options = (
        Option("axis", str, "vertical", "Mirror axis: vertical (left-right), horizontal (top-bottom) or both.",
               choices=("vertical", "horizontal", "both")),
    )

    def __call__(self, images, context):
        from .terms import symmetry

        return symmetry(images, self.settings["axis"])


class PaletteLoss(Loss):
    name = "palette"
    description = "Stay near given colours: each pixel's squared distance to the nearest palette colour."
    options = (
        Option("colours", list, ["black", "white"], "Palette: colour names or hex codes, e.g. red,#28aa3c."),
    )

    def __init__(self, options, device):
        super().__init__(options, device)
        self.colours = parse_colours(self.settings["colours"], "losses.palette.colours")

    def __call__(self, images, context):
        from .terms import palette

        return palette(images, self.colours)


class SaturationLoss(Loss):
    name = "saturation"
    description = "Pull each image's mean saturation (HSV) towards a target."
    options = (Option("target", float, 1.0, "Mean saturation to aim for, 0 (grey) to 1 (pure colour).", min=0.0, max=1.0),)

    def __call__(self, images, context):
        from .terms import saturation

        return saturation(images, self.settings["target"])


class InitLoss(Loss):
    name = "init"
    description = "Stay near the init image: mean squared distance of the latents (or pixels) to its own."
    options = (
        Option("space", str, "latent", "Compare VQGAN latents (as the textbook does) or pixels.",
               choices=("latent", "pixels")),
    )

    def __call__(self, images, context):
        from .terms import init_distance

        key = "init_latents" if self.settings["space"] == "latent" else "init_images"
        if getattr(context, key) is None:
            raise UsageError("the 'init' loss needs an init image: set generator.init_image=PATH")
        return init_distance(images, context, self.settings["space"])


LOSSES = (ClipLoss, TotalVariationLoss, SymmetryLoss, PaletteLoss, SaturationLoss, InitLoss)


@artengine.hookimpl
def register_losses(register):
    for loss in LOSSES:
        register(loss)
