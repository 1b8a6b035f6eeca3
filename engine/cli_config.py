"""`artengine config`: where your default settings live, what they are, and changing them."""

from __future__ import annotations

import click

from . import discovery
from .cli import cli, emit_json
from .config import apply_set, merge, resolve
from .defaults import layered_defaults, shipped_defaults, shipped_defaults_path, user_config_path, user_defaults
from .errors import UsageError


@cli.group(name="config")
def config_group():
    """Your default settings (any config key, the generator too), kept in a TOML file.

    Precedence, lowest first: the options' defaults < the shipped defaults < your config file
    < --config FILE < flags < --set."""


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
    _change(key, lambda settings: apply_set(settings, f"{key}={value}"))
    click.echo(f"{key} = {value}  ({user_config_path()})", err=True)


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
    touched, so the rest of the file (comments, layout) stays as you wrote it."""
    import tomlkit

    path, _ = user_defaults()  # reading it first reports a file that is not valid TOML
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
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
    from .outputs import replace_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the config folder '{path.parent}': {error.strerror or error}") from None
    replace_file(path, tomlkit.dumps(document).encode("utf-8"))
