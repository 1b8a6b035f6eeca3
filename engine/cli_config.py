"""`artengine config`: where your default settings live, what they are, and changing them."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from . import discovery
from .cli_group import cli
from .config import apply_set, merge, resolve
from .defaults import layered_defaults, shipped_defaults, shipped_defaults_path, user_config_path, user_defaults
from .errors import UsageError, printable
from .outputs import replace_file
from .progress import emit_json
from .safe_io import read_user_text


@cli.group(name="config")
def config_group():
    """Your default settings (any config key, the generator too), kept in a TOML file.

    They apply over the shipped defaults, under a --config FILE, flags and --set (the whole
    order: docs/configuration.md)."""


@config_group.command(name="path")
def path_command():
    """Print where your config file is (it need not exist yet; ARTENGINE_CONFIG_DIR moves it)."""
    click.echo(user_config_path())


@config_group.command(name="show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(as_json):
    """Print the defaults in effect: the shipped ones, overridden by your config file."""
    settings = layered_defaults(discovery.host.registry)
    path = user_config_path()
    files = {"shipped": str(shipped_defaults_path()), "user": str(path), "user_exists": path.is_file()}
    if as_json:
        emit_json({"files": files, "settings": settings})
        return
    import tomlkit

    click.echo(f"# shipped defaults: {files['shipped']}\n# your config file: {path}"
               + ("" if files["user_exists"] else " (not created yet)"))
    click.echo(tomlkit.dumps(settings).rstrip() or "# (nothing set)")


@config_group.command(name="set")
@click.argument("key")
@click.argument("value")
def set_command(key, value):
    """Set KEY to VALUE in your config file, e.g. `generator dalle` or `generator.top_k 64`.

    VALUE is read as with --set: a TOML literal (64, 0.5, true, ["a", "b"]) or else a string."""
    if any(mark in value for mark in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):  # what str.splitlines splits on
        raise UsageError(f"config set {key}: the value holds a line break; give it on one line")
    _change(key, lambda settings: apply_set(settings, f"{key}={value}"))
    said = f"{key} = {value}  ({user_config_path()})"
    click.echo(printable(said) if sys.stderr.isatty() else said, err=True)


@config_group.command(name="unset")
@click.argument("key")
def unset_command(key):
    """Remove KEY from your config file (the shipped default applies again)."""

    def remove(settings):
        *tables, leaf = key.split(".")
        for table in tables:
            settings = settings.get(table)
            if not isinstance(settings, dict):
                break
        if not isinstance(settings, dict) or leaf not in settings:
            raise UsageError(f"config unset {key}: your config file '{user_config_path()}' does not set it")
        del settings[leaf]

    _change(key, remove)


def _change(key: str, edit) -> None:
    """Apply `edit` to your settings, check the result, and rewrite only the top-level key it
    touched, so the rest of the file (comments, layout) stays as you wrote it.

    The whole read-change-write holds a lock on the config folder, so that changes made at
    once (several `config set` in a script) all land instead of overwriting each other."""
    path = user_config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the config folder '{path.parent}': {error.strerror or error}") from None
    with _locked(path.parent):
        _edit(key, edit)


@contextlib.contextmanager
def _locked(folder):
    try:
        import fcntl
    except ImportError:  # no flock on this platform: changes are not serialised there
        yield
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits: another change takes milliseconds
        yield
    finally:
        os.close(fd)


def _edit(key: str, edit) -> None:
    import tomlkit

    path, _ = user_defaults()  # reading it first reports a file that is not valid TOML
    document = tomlkit.parse(read_user_text(path, "config file")) if path.is_file() else tomlkit.document()
    settings = document.unwrap()
    edit(settings)
    registry = discovery.host.registry
    shipped = shipped_defaults(registry)
    for table in ("generator", "scorer"):  # options belong to an item: name the one they are for
        if isinstance(settings.get(table), dict) and "name" not in settings[table] and table in shipped:
            settings[table] = merge({table: shipped[table]}, {table: settings[table]})[table]
    checked = merge(shipped, settings)
    if "generator" in checked:
        resolve(checked, registry, where=f"config set {key}")
    top = key.split(".")[0]
    if top in settings:
        document[top] = settings[top]
    else:
        document.pop(top, None)
    # a config file that is a link (to a dotfiles repository, say) is changed where it lives
    replace_file(Path(os.path.realpath(path)), tomlkit.dumps(document).encode("utf-8"))
