"""Stripes: a generator that paints bands of colour, and a loss that steers brightness."""

import random

from PIL import Image, ImageDraw

import artengine
from artengine import Candidate, Generator, Loss, Option

__version__ = "1.0"

PALETTE = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220), "yellow": (240, 220, 40)}


class Stripes(Generator):
    name = "stripes"
    description = "Paints bands in the colours the prompt names."
    options = (
        Option("bands", int, 6, "How many bands.", min=1, max=256),
        Option("direction", str, "horizontal", "Which way the bands run.", choices=("horizontal", "vertical")),
    )

    def check(self, request):
        if request.size[0] < request.options["bands"]:
            raise artengine.UsageError(f"stripes: {request.options['bands']} bands need a width of at least that")

    def generate(self, request, progress):
        words = [w for part in request.prompt.positive for w in part.text.lower().split()]
        colours = [PALETTE[w] for w in words if w in PALETTE] or list(PALETTE.values())
        width, height = request.size
        candidates = []
        for index, seed in enumerate(request.seeds):
            rng = random.Random(seed)  # each candidate depends on its own seed only
            image = Image.new("RGB", request.size)
            draw = ImageDraw.Draw(image)
            bands = request.options["bands"]
            for band in range(bands):
                colour = rng.choice(colours)
                if request.options["direction"] == "horizontal":
                    box = (0, band * height // bands, width, (band + 1) * height // bands)
                else:
                    box = (band * width // bands, 0, (band + 1) * width // bands, height)
                draw.rectangle(box, fill=colour)
            progress(index + 1, request.count, preview=image)
            candidates.append(Candidate(image, seed, metadata={"colours": len(colours)}))
        return candidates


class Brightness(Loss):
    name = "brightness"
    description = "Pulls the mean brightness towards a target."
    options = (Option("target", float, 0.5, "Mean brightness to aim for, 0 to 1.", min=0.0, max=1.0),)

    def __call__(self, images, context):
        return (images.mean() - self.settings["target"]) ** 2  # a differentiable torch scalar


@artengine.hookimpl
def register_generators(register):
    register(Stripes)


@artengine.hookimpl
def register_losses(register):
    register(Brightness)
