"""What the page builds its forms from: the registry's declared options, as plain data.

Nothing here knows a generator by name, so a third-party plugin's generator, scorer or loss
gets its fields without a line of UI code.
"""

from __future__ import annotations

import re

from artengine import get_registry
from artengine.jobs import CORE_OPTIONS

from .uploads import is_image_option

# The run settings the form shows beside the generator's own (the CLI's flags)
CORE_FIELDS = ("n", "keep", "seed", "size", "device")

PROMPT_HELP = (
    "One prompt per line. Weight parts with `text:weight` and separate them with `|`; "
    "a negative weight steers away, e.g. `a red circle|blue:-0.5`."
)


WORDS = {"cuda": "CUDA", "clip": "CLIP", "vqgan": "VQGAN", "cfg": "CFG", "ddim": "DDIM", "lr": "learning rate",
         "cutn": "cutouts", "pow": "power", "gif": "GIF", "n": "n"}
"""Words an option's name abbreviates, as its label spells them."""


def label(name: str) -> str:
    """An option's label in words: `cuda_graphs` -> 'CUDA graphs', `lr_decay` -> 'Learning rate decay'."""
    words = [WORDS.get(word, word) for word in re.split(r"[_\-\s]+", name) if word]
    text = " ".join(words) or name
    return text[0].upper() + text[1:]


def schema() -> dict:
    """Every generator, scorer, loss and model loader with its declared options, each option
    with its label in words and whether it is an image (an upload in the form)."""
    registry = get_registry()
    kinds = {"generators": "generator", "scorers": "scorer", "losses": "loss", "models": "model loader"}
    out = {plural: registry.describe(kind) for plural, kind in kinds.items()}  # = `artengine list --json`
    for item in out["generators"]:
        declared = registry.get("generator", item["name"])
        item["default_size"] = "x".join(map(str, declared.default_size))
        item["takes_losses"] = bool(getattr(declared, "takes_losses", False))
        infotext = {option.name: option.infotext for option in declared.options}
        for option in item["options"]:  # the key a webui `parameters` text gives it (PNG Info)
            option["infotext"] = infotext[option["name"]] or option["name"].replace("_", " ").capitalize()
    core = {option.name: option for option in CORE_OPTIONS}
    out["core"] = [core[name].describe() for name in CORE_FIELDS]
    for option in (o for plural in ("generators", "scorers", "losses") for item in out[plural] for o in item["options"]):
        option["label"] = label(option["name"])
        option["image"] = is_image_option(option["name"], option["type"])
    out["prompt_help"] = PROMPT_HELP
    return out
