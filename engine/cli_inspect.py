"""`artengine plugins` and `artengine list`: what is installed, from the declarations."""

from __future__ import annotations

import json

import click

from . import discovery
from .cli_group import cli
from .progress import emit_json

LIST_KINDS = {
    "generators": "generator",
    "scorers": "scorer",
    "losses": "loss",
    "models": "model loader",
    "datasets": "dataset",
    "trainers": "trainer",
}


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_command(as_json):
    """List plugins: name, version, source, hooks and what each registered."""
    host = discovery.host
    host.registry  # noqa: B018 - registering fills in what each plugin registered
    records = [record.as_dict() for record in host.records.values()]
    if as_json:
        emit_json(records)
        return
    if not records:
        click.echo("no plugins installed")
    for record in records:
        click.echo(f"{record['name']} {record['version']} ({record['source']}: {record['location']})")
        if record["error"]:
            click.echo(f"  FAILED: {record['error']}")
            continue
        click.echo(f"  hooks: {', '.join(record['hooks']) or 'none'}")
        for kind, names in record["registered"].items():
            click.echo(f"  {kind}: {', '.join(names)}")


@cli.command(name="list")
@click.argument("kind", type=click.Choice(list(LIST_KINDS)))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--markdown", is_flag=True, help="Print Markdown, as in the docs.")
def list_command(kind, as_json, markdown):
    """List generators, scorers, losses, models or datasets, with their declared options."""
    registry = discovery.host.registry
    items = registry.describe(LIST_KINDS[kind])
    if as_json:
        emit_json(items)
        return
    if markdown:
        for item in items:
            click.echo(f"### {item['name']}\n\n{item['description']} (plugin `{item['plugin']}`)\n")
            click.echo(options_table(item["options"]) + "\n")
        return
    if not items:
        click.echo(f"no {kind} installed")
    for item in items:
        click.echo(f"{item['name']}  {item['description']}  (plugin: {item['plugin']})")
        for form in item.get("spec_forms", []):
            click.echo(f"    spec: {form}")
        for model in item.get("available", []):
            details = ", ".join(f"{k}: {v}" for k, v in model["details"].items())
            click.echo(f"    {model['spec']}: {model['description']}" + (f" [{details}]" if details else ""))
        for option in item["options"]:
            extra = f" (one of {', '.join(map(str, option['choices']))})" if option.get("choices") else ""
            click.echo(f"    {option['name']}: {option['type']} = {json.dumps(option['default'])}  {option['help']}{extra}")


def options_table(options: list[dict]) -> str:
    """A Markdown table of declared options (from `Option.describe()`)."""
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for option in options:
        limits = []
        if option.get("choices"):
            limits.append("one of " + ", ".join(f"`{c}`" for c in option["choices"]))
        if "min" in option:
            limits.append(f"min {option['min']}")
        if "max" in option:
            limits.append(f"max {option['max']}")
        extra = f" ({'; '.join(limits)})" if limits else ""
        meaning = (option['help'] + extra).replace('|', '\\|')
        rows.append(f"| `{option['name']}` | {option['type']} | `{json.dumps(option['default'])}` | {meaning} |")
    return "\n".join(rows)
