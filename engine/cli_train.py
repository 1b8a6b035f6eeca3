"""`artengine train NAME`, built from a trainer's declarations.

Every declared option (the engine's training options, with the trainer's defaults, and the
trainer's own) becomes a flag, a config-file key and a `--set` key, checked by the same
`Option`. Precedence, lowest first: defaults < the checkpoint's settings (with --resume) <
config file < flags < --set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from . import training_checkpoints as checkpoints
from .config import apply_set, read_config_file
from .errors import UsageError
from .options import Option, resolve_options
from .trainers import TRAINING_OPTIONS, Trainer
from .training import train


def declarations(trainer: type[Trainer]) -> tuple[Option, ...]:
    """The engine's training options with the trainer's defaults, then the trainer's own."""
    own = {option.name for option in trainer.options}
    engine = tuple(dataclasses.replace(option, default=trainer.defaults[option.name])
                   if option.name in trainer.defaults else option
                   for option in TRAINING_OPTIONS if option.name not in own)
    return engine + tuple(trainer.options)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def click_option(option: Option) -> click.Option:
    """The flag for one declaration; unset flags stay None so that a checkpoint's value shows."""
    shown = "required" if option.name == "out" and not option.default else f"default: {_shown(option.default)}"
    extra: dict[str, Any] = {"help": f"{option.help}  [{shown}]", "default": None}
    if option.type is bool:
        dashed = option.name.replace("_", "-")
        return click.Option([f"--{dashed}/--no-{dashed}", option.name], **extra)
    if option.type is list:
        return click.Option([flag(option.name), option.name], multiple=True, **extra)
    if option.choices:
        kind = click.Choice([str(choice) for choice in option.choices])
    elif option.type in (int, float):
        ranged = click.IntRange if option.type is int else click.FloatRange
        kind = ranged(option.min, option.max) if (option.min, option.max) != (None, None) else option.type
    else:
        kind = str
    return click.Option([flag(option.name), option.name], type=kind, **extra)


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def trainer_command(name: str, trainer: type[Trainer]) -> click.Command:
    declared = declarations(trainer)
    params = [click_option(option) for option in declared] + [
        click.Option(["--resume"], is_flag=True, help="Continue the run in --out from its newest checkpoint."),
        click.Option(["--config", "config_file"], type=click.Path(), help="TOML file with any of these options."),
        click.Option(["--set", "sets"], multiple=True, metavar="KEY=VALUE",
                     help="Set one option, e.g. --set lr=3e-4 (repeatable)."),
    ]

    def run(resume, config_file, sets, **flags):
        settings = resolve_training(name, trainer, declared, flags, config_file, sets, resume)
        summary = train(trainer, settings, resume)
        if summary is not None:
            load = f"; load it as {trainer.loads_as}:{summary['out']}" if trainer.loads_as else ""
            click.echo(f"trained {name} to step {summary['step']} ({summary['seconds']} s on {summary['device']}){load}")

    help_text = f"{trainer.description}\n\nRuns alone or under `accelerate launch` / `torchrun` on N processes."
    return click.Command(name, params=params, callback=run, help=help_text, short_help=trainer.description)


def resolve_training(name: str, trainer: type[Trainer], declared, flags: dict, config_file, sets, resume: bool) -> dict:
    """The run's settings, checked; with `resume`, the checkpoint's settings fill what is not given."""
    given: dict[str, Any] = read_config_file(config_file) if config_file else {}
    given.update({key: list(value) if isinstance(value, tuple) else value for key, value in flags.items()
                  if value is not None and value != ()})
    for assignment in sets:
        apply_set(given, assignment)
    checked = resolve_options(declared, given, f"train {name}")  # fills in defaults: keep what was given
    given = {key: checked[key] for key in given}
    base = {option.name: option.default for option in declared}
    if resume:
        saved = saved_settings(Path(given.get("out") or base["out"]).expanduser(), declared)
        for key in trainer.fixed:
            if key in given and key in saved and given[key] != saved[key]:
                raise UsageError(f"{flag(key)} {_shown(given[key])} differs from the checkpoint's {_shown(saved[key])}: "
                                 "it cannot change when resuming")
        base.update({key: value for key, value in saved.items() if key in base})
    settings = {**base, **given}
    if not settings["out"]:
        raise UsageError(f"train {name} needs --out FOLDER (the run folder)")
    return settings


def saved_settings(out: Path, declared) -> dict[str, Any]:
    """The settings recorded in the newest checkpoint of run folder `out` ({} if none), checked
    like given ones: an edited state.json is one line naming it, not a crash later."""
    folder = checkpoints.latest(out)
    if folder is None:
        return {}
    saved = checkpoints.read_facts(folder).get("settings", {})
    known = {option.name for option in declared}
    where = f"--resume: '{folder / checkpoints.STATE_FILE}'"
    try:
        checked = resolve_options(declared, {key: value for key, value in saved.items() if key in known}, where)
    except UsageError as error:
        raise UsageError(f"{error} (delete that checkpoint folder to resume from the one before)") from None
    return {key: checked[key] for key in saved if key in known}
