"""compare: several configurations x the same prompts and seeds -> grid.png + index.html.

A configuration is a generator with its options (and optionally losses or a scorer), so one
generator can appear several times with different settings. They come from a config file's
``[configurations.NAME]`` tables, from ``-g NAME`` flags, and from ``--axis KEY=V1,V2``,
which sweeps a key over every configuration (X/Y-plot style).
"""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

from .config import DEFAULT_SCORER, apply_set, merge, resolve
from .errors import UsageError, closest, quote
from .grid import render_grid
from .images import read_image
from .outputs import replace_file
from .registry import Registry
from .report import render_report
from .run import Plan, Run, prepare

MAX_CONFIGURATIONS = 1000
"""Configurations one compare may run (its grid has a row for each)."""


def parse_axis(text: str) -> tuple[str, list[str]]:
    key, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or not items:
        raise UsageError(f"--axis {quote(text)}: expected KEY=V1,V2,..., e.g. --axis generator.steps=10,50")
    return key.strip(), items


def configurations(
    base: dict[str, Any], named: Any, generators: list[str], axes: list[str], where: str,
    sets: list[str] = (), registry: Registry | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The (name, raw config) pairs to run: named tables, then -g flags, then each --set on the
    configurations it is valid for, then --axis sweeps."""
    if not isinstance(named, dict) or not all(isinstance(v, dict) for v in named.values()):
        raise UsageError(f"{where}: 'configurations' must hold tables, e.g. [configurations.fast]")
    pairs = [(name, merge(base, raw)) for name, raw in named.items()]
    for generator in generators:
        name = generator
        taken = {n for n, _ in pairs}
        for suffix in itertools.count(2):
            if name not in taken:
                break
            name = f"{generator}-{suffix}"
        pairs.append((name, merge(base, {"generator": generator})))
    if not pairs:
        pairs = [(_name_of(base), base)]
    for assignment in sets:
        apply_everywhere(pairs, assignment, registry)
    parsed = [parse_axis(axis) for axis in axes]
    count = len(pairs) * math.prod(len(values) for _, values in parsed)
    if count > MAX_CONFIGURATIONS:  # counted before any is built: a sweep can multiply to millions
        sizes = " x ".join(str(n) for n in [len(pairs), *(len(values) for _, values in parsed)])
        raise UsageError(f"compare: {sizes} = {count:,} configurations, more than the {MAX_CONFIGURATIONS:,} "
                         "one compare may run; sweep fewer values or split the comparison")
    for key, values in parsed:
        swept = []
        for name, raw in pairs:
            for value in values:
                copy = merge(raw, {})
                apply_set(copy, f"{key}={value}")
                swept.append((f"{name} {key.split('.')[-1]}={value}", copy))
        pairs = swept
    return pairs


def apply_everywhere(pairs: list[tuple[str, dict[str, Any]]], assignment: str, registry: Registry | None) -> None:
    """Apply one `--set` to every configuration it is valid for (a generator or scorer option
    only where that item declares it, any other key everywhere), in place. Configurations come
    with their own generator tables, so a --set applied only to the shared base would be lost.
    Valid for none of them is an error naming the key."""
    key = assignment.partition("=")[0].strip()
    fitting = [raw for _, raw in pairs if registry is None or _declares(raw, key, registry)]
    if not fitting:
        table, _, option = key.partition(".")
        items = list(dict.fromkeys(_item_name(raw, table) for _, raw in pairs))
        declared = {o.name for name in items for o in registry.get(table, name).options}
        raise UsageError(f"--set {key}: no configuration's {table} has an option '{option}'"
                         f"{closest(option, declared)} ({table}s here: {', '.join(items)}; "
                         f"see `artengine list {table}s`)")
    for raw in fitting:
        apply_set(raw, assignment)


def _declares(raw: dict[str, Any], key: str, registry: Registry) -> bool:
    table, _, option = key.partition(".")
    if table not in ("generator", "scorer") or not option or "." in option or option == "name":
        return True  # a core key or a whole table: it means the same in every configuration
    try:
        item = registry.get(table, _item_name(raw, table))
    except UsageError:
        return True  # an unknown item: resolving the configuration reports it
    return option in {declared.name for declared in item.options}


def _item_name(raw: dict[str, Any], table: str) -> str:
    value = raw.get(table)
    name = value.get("name") if isinstance(value, dict) else value
    return name if isinstance(name, str) else DEFAULT_SCORER if table == "scorer" else ""


def _name_of(raw: dict[str, Any]) -> str:
    generator = raw.get("generator")
    return generator.get("name", "default") if isinstance(generator, dict) else str(generator or "default")


def plan_compare(
    pairs: list[tuple[str, dict[str, Any]]], registry: Registry, source: str = ""
) -> list[tuple[str, Plan, dict]]:
    """Resolve and check every configuration, so that a typo fails before any work starts.

    `source` (e.g. "config file 'a.toml', ") prefixes error messages."""
    plans = []
    for name, raw in pairs:
        plan = prepare(resolve(raw, registry, where=f"{source}configuration '{name}'"), registry)
        given = raw.get("generator") if isinstance(raw.get("generator"), dict) else {}
        plans.append((name, plan, {k: v for k, v in given.items() if k != "name"}))
    return plans


def write_grid_and_report(run: Run, plans: list[tuple[str, Plan, dict]], status: str) -> None:
    """grid.png and index.html from the images saved so far (also after an interruption), the
    report saying the run's final `status`."""
    resolved = [(name, plan.config, given) for name, plan, given in plans]
    from PIL import Image

    columns = _columns(run)
    rows = []
    for name, config, given in resolved:
        cells = {(r.prompt, r.rank): r for r in run.images if r.configuration == name}
        options = ", ".join(f"{k}={v}" for k, v in given.items())
        generator = f"generator: {config.generator}" if config.generator != name else ""
        label = "\n".join(filter(None, [name, generator, options]))
        rows.append((label, [_open(cells.get(column), Image) for column in columns]))
    if not run.images:
        return
    grid = render_grid(rows, [column_label(run, prompt, rank) for prompt, rank in columns])
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    # the run folder is this program's own: a resumed run replaces the grid and report it wrote
    replace_file(run.dir / "grid.png", buffer.getvalue())
    replace_file(run.dir / "index.html", render_report(run, resolved, columns, "grid.png", status).encode("utf-8"))


def column_label(run: Run, prompt: str, rank: int) -> str:
    """'prompt · seed S' while nothing is scored (columns then line up by seed), else 'prompt · #rank'."""
    record = next(r for r in run.images if (r.prompt, r.rank) == (prompt, rank))
    return f"{prompt} · seed {record.seed}" if record.score is None else f"{prompt} · #{rank}"


def _columns(run: Run) -> list[tuple[str, int]]:
    prompts = list(dict.fromkeys(r.prompt for r in run.images))
    ranks = sorted({r.rank for r in run.images})
    return [(prompt, rank) for prompt in prompts for rank in ranks]


def _open(record, Image):
    if record is None:
        return None
    return read_image(record.path, "run.json image")  # a resumed run's run.json is read as untrusted
