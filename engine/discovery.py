"""Finding, loading and isolating plugins.

Plugins come from three places, all registered the same way:
- entry points of group ``artengine`` (the built-ins declare theirs in artengine's own
  pyproject.toml, so they are found exactly like third-party packages);
- loose ``*.py`` files in directories named by ``--plugins-dir`` or ``ARTENGINE_PLUGINS_DIR``;
- tests and embedding code, through ``PluginHost.add``.

A plugin that fails to import or register is dropped with one warning line and the rest keep
working; ``ARTENGINE_STRICT_PLUGINS=1`` makes that an error. ``ARTENGINE_LOAD_PLUGINS=a,b``
loads only the plugins named.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Callable

import click
import pluggy

from . import hookspecs
from .errors import PluginError, ctrl_c_seen
from .registry import Registry
from .safe_io import env_flag, read_user_file

GROUP = "artengine"
REGISTER_HOOKS = {
    "register_generators": "generator",
    "register_scorers": "scorer",
    "register_losses": "loss",
    "register_model_loaders": "model loader",
    "register_datasets": "dataset",
    "register_trainers": "trainer",
}


@dataclass
class PluginRecord:
    """What `artengine plugins` shows about one plugin."""

    name: str
    version: str
    source: str  # "built-in", "entry point", "directory" or "registered" (by code, e.g. tests)
    location: str
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "location": self.location,
            "hooks": self.hooks,
            "registered": self.registered,
            "error": self.error,
        }


def strict() -> bool:
    return env_flag("ARTENGINE_STRICT_PLUGINS")


def wanted(name: str) -> bool:
    allow = os.environ.get("ARTENGINE_LOAD_PLUGINS")
    return allow is None or name in {n.strip() for n in allow.split(",")}


class PluginHost:
    """One plugin manager plus what it loaded and registered."""

    def __init__(self, entry_points: bool = True):
        """`entry_points=False` leaves installed plugins out (tests use that)."""
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.warnings: list[str] = []
        self._registry: Registry | None = None
        self._commands: dict[str, click.Command] | None = None
        self._entry_points_loaded = not entry_points

    # -- loading -----------------------------------------------------------------

    def load(self, plugin_dirs: list[str | Path] = ()) -> None:
        """Load entry-point plugins (once) and every `*.py` file in `plugin_dirs`."""
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            for entry_point in metadata.entry_points(group=GROUP):
                self._load_entry_point(entry_point)
        env_dirs = os.environ.get("ARTENGINE_PLUGINS_DIR", "")
        for directory in [*plugin_dirs, *filter(None, env_dirs.split(os.pathsep))]:
            self._load_directory(Path(directory))

    def _load_entry_point(self, entry_point) -> None:
        dist = entry_point.dist
        builtin = dist is not None and dist.metadata["Name"].lower() == "artengine"
        record = PluginRecord(
            name=entry_point.name,
            version=dist.version if dist else "unknown",
            source="built-in" if builtin else "entry point",
            location=entry_point.value,
        )
        self._guarded(record, entry_point.load)

    def _load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            self._fail(f"plugins directory '{directory}' does not exist or is not a directory")
            return
        for path in sorted(directory.glob("*.py")):
            record = PluginRecord(path.stem, "unknown", "directory", str(path.resolve()))
            self._guarded(record, lambda: _import_file(path))

    def add(self, module: object, name: str | None = None, source: str = "registered") -> None:
        """Register an already-imported plugin object (tests and embedding code use this)."""
        name = name or getattr(module, "__name__", repr(module))
        record = PluginRecord(name, getattr(module, "__version__", "unknown"), source, name)
        self._guarded(record, lambda: module)

    def _guarded(self, record: PluginRecord, load) -> None:
        if not wanted(record.name):
            return
        taken = self.records.get(record.name)
        if taken is not None:
            if (taken.source, taken.location) != (record.source, record.location):  # not the same one again
                self._warn_once(f"plugin '{record.name}' ({record.source}, {record.location}) is not loaded: "
                                f"its name is taken by the {taken.source} plugin '{record.name}' "
                                f"({taken.location}); rename it")
            return
        self.records[record.name] = record
        try:
            module = load()
            record.version = getattr(module, "__version__", None) or record.version
            self.pm.register(module, name=record.name)
            record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(module) or ())
        except BaseException as error:  # noqa: BLE001 - a broken plugin (even one calling sys.exit) must not take the CLI down
            if isinstance(error, KeyboardInterrupt) and ctrl_c_seen():
                raise
            self._fail(f"plugin '{record.name}' ({record.source}) failed to load: {_describe(error)}", record)
        self._registry = self._commands = None

    def _warn_once(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _fail(self, message: str, record: PluginRecord | None = None) -> None:
        if record is not None:
            record.error = message
            if self.pm.has_plugin(record.name):
                self.pm.unregister(name=record.name)
        if strict():
            raise PluginError(message + " (ARTENGINE_STRICT_PLUGINS is set)")
        self.warnings.append(message)

    # -- what the plugins registered ------------------------------------------------

    @property
    def registry(self) -> Registry:
        """Call each plugin's register hooks, one plugin at a time, so a failure stays local."""
        if self._registry is None:
            registry = Registry()
            for record in self.loaded():
                self._register_items(record, registry)
            self._registry = registry
        return self._registry

    def _register_items(self, record: PluginRecord, registry: Registry) -> None:
        plugin = self.pm.get_plugin(record.name)
        staged: list[tuple[str, object]] = []
        try:
            for hook_name, kind in REGISTER_HOOKS.items():
                for impl in _impls(self.pm, hook_name, plugin):
                    impl.function(register=lambda obj, kind=kind: staged.append((kind, obj)))
            trial = Registry(
                {kind: dict(names) for kind, names in registry.items.items()}, dict(registry.owners)
            )
            names = [(kind, trial.add(kind, obj, record.name)) for kind, obj in staged]
        except BaseException as error:  # noqa: BLE001
            if isinstance(error, KeyboardInterrupt) and ctrl_c_seen():
                raise
            self._fail(f"plugin '{record.name}' failed to register: {_describe(error)}", record)
            return
        for kind, obj in staged:
            registry.add(kind, obj, record.name)
        for kind, name in names:
            record.registered.setdefault(_plural(kind), []).append(name)

    def commands(self, taken: set[str],
                 shared: Callable[[Registry], dict[str, click.Group]]) -> dict[str, click.Command]:
        """Commands added through `register_commands`, each plugin isolated from the others.

        `shared(registry)` makes the groups (such as `train`, with a command per registered
        trainer) that several plugins add subcommands to; they are returned among the commands
        once they hold something.
        """
        if self._commands is None:
            groups = shared(self.registry)  # plugins that fail to register add no commands
            commands: dict[str, click.Command] = {}
            for record in self.loaded():
                group = click.Group(commands=dict(groups))
                before = {name: dict(sub.commands) for name, sub in groups.items()}
                try:
                    for impl in _impls(self.pm, "register_commands", self.pm.get_plugin(record.name)):
                        impl.function(cli=group)
                    added = [name for name in group.commands if name not in groups]
                    for name in added:
                        if name in taken or name in commands:
                            raise PluginError(f"command '{name}' is already taken")
                    for name, sub in groups.items():
                        for child, command in sub.commands.items():
                            if child in before[name] and before[name][child] is not command:
                                raise PluginError(f"command '{name} {child}' is already taken")
                except BaseException as error:  # noqa: BLE001
                    if isinstance(error, KeyboardInterrupt) and ctrl_c_seen():
                        raise
                    for name, sub in groups.items():  # undo what this plugin added
                        sub.commands = before[name]
                    self._fail(f"plugin '{record.name}' failed to add commands: {_describe(error)}", record)
                    continue
                commands.update({name: group.commands[name] for name in added})
                made = added + [
                    f"{name} {child}" for name, sub in groups.items() for child in sub.commands if child not in before[name]
                ]
                if made:
                    record.registered["commands"] = sorted(made)
            commands.update({name: sub for name, sub in groups.items() if sub.commands})
            self._commands = commands
        return self._commands

    def loaded(self) -> list[PluginRecord]:
        return [record for record in self.records.values() if record.error is None]

    def versions(self) -> dict[str, str]:
        return {record.name: record.version for record in self.loaded()}


def _impls(pm: pluggy.PluginManager, hook_name: str, plugin: object) -> list:
    return [impl for impl in getattr(pm.hook, hook_name).get_hookimpls() if impl.plugin is plugin]


def _import_file(path: Path) -> ModuleType:
    """Import the plugin file `path`. Its source is read like any file a user names (a FIFO, a
    device or a directory called *.py is refused, and so is a huge file) and then compiled."""
    source = read_user_file(path, "plugin file")
    module_name = f"artengine_plugin_{path.stem}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - loading plugins the user named
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _plural(kind: str) -> str:
    return {"loss": "losses", "model loader": "models"}.get(kind, kind + "s")


host = PluginHost()
"""The process-wide plugin host the CLI and `artengine.load_model` use."""


def get_registry() -> Registry:
    """What the loaded plugins registered: `.names(kind)`, `.get(kind, name)`, `.describe(kind)`."""
    host.load()
    return host.registry
