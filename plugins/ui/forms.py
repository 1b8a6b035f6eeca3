"""What the page builds its forms from: the registry's declared options, as plain data.

Nothing here knows a generator by name, so a third-party plugin's generator, scorer or loss
gets its fields without a line of UI code.
"""

from __future__ import annotations

from artengine import discovery
from artengine.cli_inspect import describe  # the same data as `artengine list --json`
from artengine.config import CORE_OPTIONS

# The run settings the form shows beside the generator's own (the CLI's flags)
CORE_FIELDS = ("n", "keep", "seed", "size", "device")

PROMPT_HELP = (
    "One prompt per line. Weight parts with `text:weight` and separate them with `|`; "
    "a negative weight steers away, e.g. `a red circle|blue:-0.5`."
)


def schema() -> dict:
    """Every generator, scorer, loss and model loader with its declared options."""
    registry = discovery.host.registry
    kinds = {"generators": "generator", "scorers": "scorer", "losses": "loss", "models": "model loader"}
    out = {
        plural: [describe(kind, name, obj, registry.owners[kind, name]) for name, obj in sorted(registry.items[kind].items())]
        for plural, kind in kinds.items()
    }
    for item in out["generators"]:
        item["default_size"] = "x".join(map(str, registry.items["generator"][item["name"]].default_size))
    core = {option.name: option for option in CORE_OPTIONS}
    out["core"] = [core[name].describe() for name in CORE_FIELDS]
    out["prompt_help"] = PROMPT_HELP
    return out
