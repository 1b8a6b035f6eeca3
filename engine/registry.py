"""Named generators, scorers, losses, model loaders, datasets and trainers, each remembered with
its plugin."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from .errors import PluginError, UsageError, closest, quote
from .interfaces import Dataset, Generator, Loss, ModelLoader, Scorer
from .trainers import Trainer

# kind -> (what a registered object must be, the attribute that names it)
KINDS: dict[str, tuple[type, str]] = {
    "generator": (Generator, "name"),
    "scorer": (Scorer, "name"),
    "loss": (Loss, "name"),
    "model loader": (ModelLoader, "kind"),
    "dataset": (Dataset, "name"),
    "trainer": (Trainer, "name"),
}


@dataclass
class Registry:
    """What the loaded plugins registered: kind -> name -> object, and name -> plugin."""

    items: dict[str, dict[str, Any]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, kind: str, obj: Any, plugin: str) -> str:
        """Register `obj` as a `kind` for `plugin`; returns the name it is known by."""
        base, attribute = KINDS[kind]
        is_class = isinstance(obj, type)
        wanted_class = kind != "model loader"
        if (is_class and not issubclass(obj, base)) or (not is_class and not isinstance(obj, base)) or is_class != wanted_class:
            shape = f"a subclass of {base.__name__}" if wanted_class else f"an instance of {base.__name__}"
            raise PluginError(f"plugin '{plugin}' registered {obj!r} as a {kind}; it must be {shape}")
        name = getattr(obj, attribute, None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{plugin}' registered a {kind} without a '{attribute}'")
        if is_class and not builds(obj):
            raise PluginError(f"plugin '{plugin}' registered {kind} '{name}', whose constructor takes "
                              f"{obj.__name__}{inspect.signature(obj)}; the engine builds every item as "
                              f"{obj.__name__}(options, device): take those two, or define no __init__")
        if (kind, name) in self.owners:
            raise PluginError(
                f"plugin '{plugin}' registered {kind} '{name}', "
                f"which plugin '{self.owners[kind, name]}' already registered"
            )
        self.items[kind][name] = obj
        self.owners[kind, name] = plugin
        return name

    def names(self, kind: str) -> list[str]:
        return sorted(self.items[kind])

    def get(self, kind: str, name: str) -> Any:
        """The registered object, or a UsageError naming the closest valid name."""
        found = self.items[kind].get(name)
        if found is None:
            known = self.names(kind)
            listing = ", ".join(known) if known else "none are installed"
            raise UsageError(f"unknown {kind} {quote(name)}{closest(name, known)}; available: {listing}")
        return found

    def generator(self, name: str) -> type[Generator]:
        return self.get("generator", name)

    def scorer(self, name: str) -> type[Scorer]:
        return self.get("scorer", name)

    def loss(self, name: str) -> type[Loss]:
        return self.get("loss", name)

    def model_loader(self, kind: str) -> ModelLoader:
        return self.get("model loader", kind)

    def describe(self, kind: str) -> list[dict[str, Any]]:
        """Every registered `kind`, by name, with its declared options as plain data: what
        `artengine list --json` prints, the docs' tables and the web UI's forms are made from."""
        return [describe_item(kind, name, obj, self.owners[kind, name]) for name, obj in sorted(self.items[kind].items())]


def builds(cls: type) -> bool:
    """Whether the engine can build the item class `cls` as every item is built:
    `cls(options, device)` (see interfaces.Item)."""
    try:
        inspect.signature(cls).bind(options={}, device="cpu")
    except TypeError:
        return False
    except ValueError:  # a constructor without a signature Python can read: left to run time
        return True
    return True


def describe_item(kind: str, name: str, obj: Any, plugin: str) -> dict[str, Any]:
    """The one declaration of an item, as data."""
    item = {
        "name": name,
        "description": obj.description,
        "plugin": plugin,
        "options": [option.describe() for option in getattr(obj, "options", ())],
    }
    if kind == "model loader":
        item["spec_forms"] = list(obj.spec_forms)
        item["available"] = [
            {"spec": m.spec, "description": m.description, "details": dict(m.details)} for m in obj.available()
        ]
    return item
