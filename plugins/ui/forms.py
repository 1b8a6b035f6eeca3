"""What the page builds its forms from: the registry's declared options, as plain data.

Nothing here knows a generator by name, so a third-party plugin's generator, scorer or loss
gets its fields without a line of UI code.
"""

from __future__ import annotations

from artengine import CORE_OPTIONS, get_registry

# The run settings the form shows beside the generator's own (the CLI's flags)
CORE_FIELDS = ("n", "keep", "seed", "size", "device")

PROMPT_HELP = (
    "One prompt per line. Weight parts with `text:weight` and separate them with `|`; "
    "a negative weight steers away, e.g. `a red circle|blue:-0.5`."
)


def schema() -> dict:
    """Every generator, scorer, loss and model loader with its declared options."""
    registry = get_registry()
    kinds = {"generators": "generator", "scorers": "scorer", "losses": "loss", "models": "model loader"}
    out = {plural: registry.describe(kind) for plural, kind in kinds.items()}  # = `artengine list --json`
    for item in out["generators"]:
        item["default_size"] = "x".join(map(str, registry.get("generator", item["name"]).default_size))
    core = {option.name: option for option in CORE_OPTIONS}
    out["core"] = [core[name].describe() for name in CORE_FIELDS]
    out["prompt_help"] = PROMPT_HELP
    return out
