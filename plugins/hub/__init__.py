"""Built-in plugin `hub`: published models by name, fetched on first use and verified
(docs/models.md, "Published models").

Each model loader may declare `published`, a table of the models it can fetch: name -> entry
(description, size, licence, and the parts: Hub repository files or plain HTTPS URLs; see
fetch.py). This plugin registers:

- the model loader `hub:`, which turns `hub:KIND:NAME` into the folder holding that model's files,
  fetched and verified when missing: the loaders of other plugins ask for it through
  `artengine.load_model`, then read the folder as they read any local one;
- the command `artengine models pull|ls|rm`.

This module stays light: huggingface_hub loads only when something is fetched.
"""

from __future__ import annotations

import artengine
from artengine import ModelLoader, UsageError, closest

__version__ = "0.1.0"


def published_models() -> dict[str, dict]:
    """Every published model of every registered loader: 'KIND:NAME' -> its table entry."""
    registry = artengine.get_registry()
    found = {}
    for kind in registry.names("model loader"):
        for name, entry in getattr(registry.model_loader(kind), "published", {}).items():
            found[f"{kind}:{name}"] = entry
    return found


def entry_for(spec: str) -> dict:
    known = published_models()
    if spec not in known:
        listing = ", ".join(sorted(known)) or "none (no installed plugin publishes any)"
        raise UsageError(f"{spec!r} is not a published model{closest(spec, known)}; published: {listing}")
    return known[spec]


class HubLoader(ModelLoader):
    kind = "hub"
    description = "The local folder of a published model (KIND:NAME), fetched and verified on first use"
    spec_forms = ("hub:KIND:NAME  (e.g. hub:dalle-bart:mega; `artengine list models` shows the names)",)

    def load(self, name: str, device: str):
        from .fetch import fetch

        return fetch(name, entry_for(name))


@artengine.hookimpl
def register_model_loaders(register):
    register(HubLoader())


@artengine.hookimpl
def register_commands(cli):
    from .command import models  # click only

    cli.add_command(models)
