"""Defaults a user can set: the shipped defaults file, then the user's own config file.

Settings, lowest precedence first: declared defaults < the shipped defaults file < the user's
config file < ``--config FILE`` < flags < ``--set``. The shipped file (``defaults.toml`` beside
the built-in plugins, whose items it names) picks a generator that runs on the embedded
models; the user's file (``artengine config path``) holds any key a config file holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import merge, read_config_file, resolve
from .registry import Registry

CONFIG_DIR_VARIABLE = "ARTENGINE_CONFIG_DIR"
CONFIG_FILE = "config.toml"
PROMPT_KEYS = ("prompt", "prompts", "prompts_file")  # a prompt given anywhere replaces all of these


def config_dir() -> Path:
    """$ARTENGINE_CONFIG_DIR, else the platform's folder for artengine's settings (on Linux
    $XDG_CONFIG_HOME/artengine or ~/.config/artengine, as click.get_app_dir says)."""
    if os.environ.get(CONFIG_DIR_VARIABLE):
        return Path(os.environ[CONFIG_DIR_VARIABLE])
    import click

    return Path(click.get_app_dir("artengine"))


def user_config_path() -> Path:
    return config_dir() / CONFIG_FILE


def shipped_defaults_path() -> Path:
    from importlib.resources import files

    return Path(str(files("artengine.plugins") / "defaults.toml"))


def shipped_defaults(registry: Registry) -> dict[str, Any]:
    """The shipped file's settings, less a generator or scorer that is not installed (it
    names built-in plugins, which a user may leave out)."""
    path = shipped_defaults_path()
    raw = read_config_file(path) if path.is_file() else {}
    for kind in ("generator", "scorer"):
        value = raw.get(kind)
        name = value.get("name") if isinstance(value, dict) else value
        if name is not None and name not in registry.items[kind]:
            raw.pop(kind)
    return raw


def user_defaults() -> tuple[Path, dict[str, Any]]:
    path = user_config_path()
    return path, (read_config_file(path) if path.is_file() else {})


def layered_defaults(registry: Registry, chosen: dict[str, Any] | None = None) -> dict[str, Any]:
    """The shipped defaults overridden by the user's config file, checked with the file's name
    in any error. `chosen` (e.g. ``{"generator": "dalle"}`` from -g) is what the command line
    picks over them, so that a default for an item the user is not using cannot fail the run."""
    path, user = user_defaults()
    layered = merge(shipped_defaults(registry), user)
    checked = merge(layered, chosen or {})
    if user and "generator" in checked:
        resolve(checked, registry, where=f"user config '{path}'")
    return layered


def under(defaults: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` (a --config file's) over `defaults`; prompts given there replace the defaults'."""
    if any(key in settings for key in PROMPT_KEYS):
        defaults = {key: value for key, value in defaults.items() if key not in PROMPT_KEYS}
    return merge(defaults, settings)
