"""Where a run's settings come from, and the one order they apply in (`layered`).

Besides the command line and a ``--config`` file, there are defaults a user can set: the
shipped defaults file (``defaults.toml`` beside the built-in plugins, whose items it names)
picks a generator that runs on the embedded models; the user's file (``artengine config
path``) holds any key a config file holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from .config import apply_set, merge, parse_loss_flag, read_config_file, resolve
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


def layered(registry: Registry, file: dict[str, Any], flags: dict[str, Any], losses: Sequence[str] = (),
            sets: Sequence[str] = (), chosen: dict[str, Any] | None = None) -> dict[str, Any]:
    """A generate's or compare's settings as one raw config (`config.resolve` checks it), in
    the one order settings apply in; later ones win:

    1. each option's declared default (`config.CORE_OPTIONS`, each plugin item's `options`),
       filled in by `resolve`;
    2. the shipped defaults file (`shipped_defaults`);
    3. the user's config file (`user_defaults`, `artengine config`);
    4. a ``--config`` file (`file`; a compare's ``[configurations.NAME]`` taken out of it);
    5. the flags given (`flags`: the prompt, ``-n``, ``--seed``, ``-g``, ...);
    6. ``--loss NAME:WEIGHT`` (`losses`);
    7. ``--set KEY=VALUE`` (`sets`).

    A prompt given in a layer (``prompt``, ``prompts`` or ``prompts_file``) replaces every
    prompt of the layers below; naming another generator or scorer drops the options given for
    the one before (`config.merge`). A compare lays each configuration (a
    ``[configurations.NAME]`` table, a ``-g NAME``) over layers 1-6, then applies ``--set`` to
    each configuration it is valid for, then sweeps ``--axis`` (`compare.configurations`).
    `reproduce` and ``--resume`` take none of these: an image or a run folder records theirs.

    `chosen` (e.g. ``{"generator": "dalle"}``, what the command line or the ``--config`` file
    picks) is checked with the user's config file, so that a default for an item the user is
    not using cannot fail the run.
    """
    raw = _over(_over(layered_defaults(registry, chosen), file), flags)
    for text in losses:
        name, weight = parse_loss_flag(text)
        raw = merge(raw, {"losses": {name: {"weight": weight}}})
    for assignment in sets:
        apply_set(raw, assignment)
    return raw


def layered_defaults(registry: Registry, chosen: dict[str, Any] | None = None) -> dict[str, Any]:
    """Layers 2 and 3 of `layered`: the shipped defaults and the user's config file, checked
    with the file's name in any error (over `chosen`, see `layered`)."""
    path, user = user_defaults()
    defaults = merge(shipped_defaults(registry), user)
    checked = merge(defaults, chosen or {})
    if user and "generator" in checked:
        resolve(checked, registry, where=f"user config '{path}'")
    return defaults


def _over(lower: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
    """`upper` merged over `lower`; a prompt given in `upper` replaces all of `lower`'s."""
    if any(key in upper for key in PROMPT_KEYS):
        lower = {key: value for key, value in lower.items() if key not in PROMPT_KEYS}
    return merge(lower, upper)
