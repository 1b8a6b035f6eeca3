"""A submitted form -> the CLI's raw settings -> checked plans, through the CLI's own functions.

The form sends text exactly as a user would type flags: core settings and plugin options are
applied like `--set KEY=VALUE`, losses like `--loss NAME:WEIGHT`, so every value meets the same
checks and, when wrong, the same one-line message as on the command line.
"""

from __future__ import annotations

import re
from typing import Any

from artengine import UsageError, discovery
from artengine.cli_run import build_raw
from artengine.compare import configurations, plan_compare
from artengine.config import resolve
from artengine.run import Plan, prepare

TABLES = ("generator.", "scorer.")
SETS = ("n", "keep", "seed")


def raw_settings(form: dict[str, Any], out: str) -> dict[str, Any]:
    """The raw config one form describes (what `artengine generate` builds from its flags)."""
    fields = {str(k): str(v).strip() for k, v in (form.get("fields") or {}).items() if v is not None}
    prompts = [line.strip() for line in str(form.get("prompt", "")).splitlines() if line.strip()]
    flags = {"out": out, "generator": fields.get("generator") or None, "scorer": fields.get("scorer") or None,
             "size": fields.get("size") or None, "device": fields.get("device") or None}
    sets = [f"{key}={value}" for key, value in fields.items() if key in SETS and value]
    # an emptied text field means the empty string (`--set generator.init_image=""`)
    sets += [f"{key}={value or chr(34) * 2}" for key, value in fields.items() if key.startswith(TABLES)]
    losses = [item.strip() for item in fields.get("losses", "").split(",") if item.strip()]
    raw = build_raw({}, prompts[0] if prompts else None, None, flags, losses, sets)
    if len(prompts) > 1:
        raw["prompts"] = prompts[1:]
    return raw


def plan_generate(form: dict[str, Any], out: str) -> Plan:
    registry = discovery.host.registry
    return prepare(resolve(raw_settings(form, out), registry, where="settings"), registry)


def plan_configurations(form: dict[str, Any], out: str) -> list[tuple[str, Plan, dict]]:
    """`artengine compare`: each configuration is a generator form of its own; shared prompt,
    n and seed; axes sweep keys over all of them."""
    base = raw_settings({"prompt": form.get("prompt", ""), "fields": form.get("fields") or {}}, out)
    base.pop("generator", None)
    named: dict[str, Any] = {}
    for configuration in form.get("configurations") or []:
        fields = {k: v for k, v in (configuration.get("fields") or {}).items() if k == "generator" or k.startswith(TABLES)}
        raw = raw_settings({"prompt": "x", "fields": fields}, out)
        table = {k: v for k, v in raw.items() if k in ("generator", "scorer")}
        first = name = str(configuration.get("name") or _name(table))
        suffix = 2
        while name in named:  # as `compare -g dalle -g dalle` names them: dalle, dalle-2
            name, suffix = f"{first}-{suffix}", suffix + 1
        named[name] = table
    axes = [line.strip() for line in str(form.get("axes", "")).splitlines() if line.strip()]
    pairs = configurations(base, named, [], axes, where="settings")
    return plan_compare(pairs, discovery.host.registry)


def _name(table: dict[str, Any]) -> str:
    generator = table.get("generator")
    return generator.get("name", "default") if isinstance(generator, dict) else str(generator or "default")


def field_of(message: str, fields: list[str]) -> str | None:
    """The form field an error message names ('settings: generator.steps: 0 is below ...')."""
    for key in sorted(fields, key=len, reverse=True):
        pattern = rf"(?<![\w.]){re.escape(key)}(?=[:=' ]|$)" if len(key) > 1 else rf"(?<![\w.]){key}[:=]"
        if re.search(pattern, message):
            return key
    if "--axis" in message and "axes" in fields:
        return "axes"
    if re.search(r"\blosses\.|--loss", message):
        return "losses"
    if "prompt" in message:
        return "prompt"
    return None


def usage_error(error: UsageError, fields: list[str]) -> dict[str, Any]:
    message = str(error)
    return {"error": f"artengine: error: {message}", "field": field_of(message, fields)}
