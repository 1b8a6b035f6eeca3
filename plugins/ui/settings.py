"""A submitted form -> the engine's `Settings`, planned by the same functions as the CLI's.

The form sends text exactly as a user would type flags: core settings and plugin options are
applied like `--set KEY=VALUE`, losses like `--loss NAME:WEIGHT`, so every value meets the same
checks and, when wrong, the same one-line message as on the command line.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from artengine import UsageError
from artengine.jobs import Job, Settings, plan_comparison, plan_generate

from .uploads import resolve_fields

TABLES = ("generator.", "scorer.", "losses.")
SETS = ("n", "keep", "seed")


def prompts_of(form: dict[str, Any]) -> list[str]:
    """The form's prompts (one a line), each followed by the negative prompt's parts at weight
    -1: `a cat` with negative `blurry|text` is `a cat|blurry:-1|text:-1`, the engine's syntax."""
    negative = [part.strip() for line in str(form.get("negative", "")).splitlines() for part in line.split("|")]
    steer = "".join(f"|{part}:-1" for part in negative if part)
    return [line.strip() + steer for line in str(form.get("prompt", "")).splitlines() if line.strip()]


def field_values(form: dict[str, Any], out: str, used: dict[str, list[Path]]) -> dict[str, str]:
    """The form's fields as text, uploads named by id made the stored files' paths (`used`
    collects them)."""
    fields = {str(k): str(v).strip() for k, v in (form.get("fields") or {}).items() if v is not None}
    fields, files = resolve_fields(fields, Path(out))
    used.update(files)
    return fields


def settings_of(form: dict[str, Any], out: str, used: dict[str, list[Path]] | None = None) -> Settings:
    """The settings one form describes (what `artengine generate` takes as flags)."""
    fields = field_values(form, out, {} if used is None else used)
    prompts = prompts_of(form)
    return Settings(prompts=prompts or None, out=out, generator=fields.get("generator") or None,
                    scorer=fields.get("scorer") or None, size=fields.get("size") or None,
                    device=fields.get("device") or None,
                    losses=[item.strip() for item in fields.get("losses", "").split(",") if item.strip()],
                    sets=_assignments(fields, SETS))


def _assignments(fields: dict[str, str], core: tuple[str, ...] = ()) -> list[str]:
    """`--set` assignments for the core keys given and every generator, scorer and loss field."""
    sets = [f"{key}={value}" for key, value in fields.items() if key in core and value]
    # an emptied text field means the empty string (`--set generator.init_image=""`)
    return sets + [f"{key}={value or chr(34) * 2}" for key, value in fields.items() if key.startswith(TABLES)]


def plan_generate_form(form: dict[str, Any], out: str, used: dict[str, list[Path]]) -> Job:
    return plan_generate(settings_of(form, out, used))


def plan_compare_form(form: dict[str, Any], out: str, used: dict[str, list[Path]]) -> Job:
    """`artengine compare`: each configuration is a generator form of its own; shared prompt,
    n and seed; axes sweep keys over all of them."""
    base = settings_of({"prompt": form.get("prompt", ""), "negative": form.get("negative", ""),
                        "fields": form.get("fields") or {}}, out, used)
    named: dict[str, list[str]] = {}
    for configuration in form.get("configurations") or []:
        fields = field_values(configuration, out, used)
        generator = fields.get("generator") or ""
        first = name = str(configuration.get("name") or generator or "default")
        suffix = 2
        while name in named:  # as `compare -g dalle -g dalle` names them: dalle, dalle-2
            name, suffix = f"{first}-{suffix}", suffix + 1
        named[name] = ([f"generator={generator}"] if generator else []) + _assignments(fields)
    axes = [line.strip() for line in str(form.get("axes", "")).splitlines() if line.strip()]
    return plan_comparison(replace(base, generator=None, configurations=named, axes=axes))


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
