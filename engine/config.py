"""Run configuration: one nested dict from defaults, a TOML file, flags and ``--set``, layered
in the order `defaults.layered` gives, then resolved here.

Everything is checked against declarations (the core's `CORE_OPTIONS`, each plugin item's
`options`), so an unknown key or a wrong type names the key, the file, and the closest
valid key.

The canonical form (what PNGs and run.json record, and what `reproduce` reads back)::

    prompts = ["a red circle"]   n = 4   keep = 0   seed = 42   size = "64x64"  device = "cpu"
    [generator]  name = "solid"  <its options>
    [scorer]     name = "clip"   <its options>
    [losses.tv]  weight = 0.1    <its options>
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError, closest, quote
from .options import Option, resolve_options
from .prompts import Prompt, parse_prompt, split_weight
from .registry import Registry
from .safe_io import MAX_DEPTH, check_depth, check_path, load_toml, read_user_text

MAX_SIDE = 8192
DEFAULT_SCORER = "clip"

CORE_OPTIONS = (
    Option("prompt", str, "", "One prompt; `text:weight|other:-1` syntax."),
    Option("prompts", list, [], "Several prompts."),
    Option("prompts_file", str, "", "A file with one prompt per line (# comments)."),
    Option("n", int, 1, "Candidates per prompt.", min=1, max=100_000),
    Option("keep", int, 0, "Keep the best K candidates by score; 0 keeps all.", min=0),
    Option("seed", int, -1, "Base seed; candidate i gets seed + i; -1 draws one.", min=-1, max=2**32 - 1),
    Option("size", str, "", "Image size WxH; empty: the generator's default."),
    Option("device", str, "auto", "Where to run.", choices=("auto", "cpu", "cuda", "mps")),
    Option("out", str, "outputs", "Folder that receives one new run folder per run."),
)
TABLE_KEYS = ("generator", "scorer", "losses")


def core_option(name: str) -> Option:
    """The declaration of core setting `name`: the one place its default and choices are
    written, which the command line's flags and help read too."""
    return next(option for option in CORE_OPTIONS if option.name == name)


@dataclass(frozen=True)
class LossSpec:
    """A loss chosen for a run: its registered name, weight and resolved options."""

    name: str
    weight: float
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """A fully resolved and checked configuration."""

    prompts: list[Prompt]
    n: int
    keep: int
    seed: int
    size: tuple[int, int] | None
    device: str
    out: str
    generator: str
    generator_options: dict[str, Any]
    scorer: str | None
    scorer_options: dict[str, Any] = field(default_factory=dict)
    scorer_required: bool = False
    losses: tuple[LossSpec, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The canonical, JSON-serialisable form (without `out`, which is the reader's)."""
        data: dict[str, Any] = {
            "prompts": [prompt.text for prompt in self.prompts],
            "n": self.n,
            "keep": self.keep,
            "seed": self.seed,
            "size": format_size(self.size) if self.size else "",
            "device": self.device,
            "generator": {"name": self.generator, **self.generator_options},
        }
        if self.scorer:
            data["scorer"] = {"name": self.scorer, **self.scorer_options}
        if self.losses:
            data["losses"] = {l.name: {"weight": l.weight, **l.options} for l in self.losses}
        return data


# -- reading sources ---------------------------------------------------------------


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = check_path(path, "config file")
    data = load_toml(read_user_text(path, "config file"), f"config file '{path}'")
    if isinstance(data.get("prompts_file"), str):  # relative to the config file, not to where it is run from
        data["prompts_file"] = str(path.parent / data["prompts_file"])
    return data


def read_prompt_file(path: str | Path) -> list[Prompt]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    lines = read_user_text(path, "prompt file").splitlines()
    prompts = [
        parse_prompt(line, where=f"{path}:{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not prompts:
        raise UsageError(f"prompt file '{path}' has no prompts (only blank lines or comments)")
    return prompts


def apply_set(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set KEY=VALUE`` (``generator.steps=50``, ``n=4``) to `raw`, in place."""
    key, sep, value = assignment.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(f"--set {quote(assignment)}: expected KEY=VALUE, e.g. --set generator.steps=50")
    *tables, leaf = key.split(".")
    if len(tables) >= MAX_DEPTH:
        raise UsageError(f"--set {quote(key)}: tables are nested more than {MAX_DEPTH} deep")
    target = raw
    for depth, table in enumerate(tables):
        current = target.get(table)
        if isinstance(current, str) and depth == 0 and table in ("generator", "scorer"):
            current = target[table] = {"name": current}
        elif current is None:
            current = target[table] = {}
        elif not isinstance(current, dict):
            raise UsageError(f"--set {quote(key)}: {quote('.'.join(tables[: depth + 1]))} is not a table")
        target = current
    target[leaf] = _toml_value(value.strip(), f"--set {quote(key)}")


def _toml_value(text: str, where: str) -> Any:
    """`--set` values are TOML literals (50, 0.5, true, ["a", "b"]); anything else is a string."""
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    except ValueError:  # an integer past Python's limit on the digits it converts
        raise UsageError(f"{where}: the number has more digits than can be read; give a smaller one") from None
    except RecursionError:
        raise UsageError(f"{where}: arrays or tables are nested more than {MAX_DEPTH} deep") from None
    return check_depth(value, where)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; `override` wins. A string generator/scorer becomes a {name} table."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key in ("generator", "scorer"):
            old, value = _as_table(out.get(key)), _as_table(value)
            if isinstance(old, dict) and isinstance(value, dict):
                if "name" in value and value["name"] != old.get("name"):
                    old = {}  # another item: the old one's options do not apply
                value = merge(old, value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            value = merge(out[key], value)
        out[key] = copy.deepcopy(value)
    return out


def _as_table(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


# -- resolving -----------------------------------------------------------------------


def resolve(raw: dict[str, Any], registry: Registry, where: str = "config") -> RunConfig:
    """Check every key of `raw` and fill in defaults; errors name `where` and the key."""
    known = [o.name for o in CORE_OPTIONS] + list(TABLE_KEYS)
    for key in raw:
        if key not in known:
            raise UsageError(f"{where}: unknown key {quote(key)}{closest(key, known)}; valid keys: {', '.join(known)}")
    core = resolve_options(CORE_OPTIONS, {k: v for k, v in raw.items() if k not in TABLE_KEYS}, where)

    generator_name, generator_given = _table(raw.get("generator"), "generator", where)
    if generator_name is None:
        names = registry.names("generator")
        if len(names) != 1:
            raise UsageError(
                "no generator chosen: pass -g NAME, or set a default with `artengine config set generator NAME`; "
                "available: "
                + (", ".join(names) or "none (install a generator plugin)")
            )
        generator_name = names[0]
    generator = _lookup(registry, "generator", generator_name, where)
    generator_options = resolve_options(generator.options, generator_given, where, "generator")

    scorer_name, scorer_given = _table(raw.get("scorer"), "scorer", where)
    explicit = scorer_name is not None
    scorer_name = DEFAULT_SCORER if scorer_name is None else scorer_name
    scorer_options: dict[str, Any] = {}
    if scorer_name == "none" or (not explicit and scorer_name not in registry.items["scorer"]):
        if core["keep"]:
            hint = "pass --scorer NAME" if registry.names("scorer") else "install a scorer plugin"
            raise UsageError(
                f"{where}: keep={core['keep']} ranks candidates with a scorer, but none is available; {hint}"
                + f" (available: {', '.join(registry.names('scorer')) or 'none'})"
            )
        scorer_name = None
    else:
        scorer = _lookup(registry, "scorer", scorer_name, where)
        scorer_options = resolve_options(scorer.options, scorer_given, where, "scorer")

    losses = _resolve_losses(raw.get("losses", {}), registry, where)

    if core["keep"] > core["n"]:
        raise UsageError(f"{where}: keep={core['keep']} is greater than n={core['n']}; keep at most n")
    texts = ([core["prompt"]] if core["prompt"] else []) + list(core["prompts"])
    prompts = [parse_prompt(text, f"{where}: prompt") for text in texts]
    if core["prompts_file"]:
        prompts += read_prompt_file(core["prompts_file"])
    return RunConfig(
        prompts=prompts,
        n=core["n"],
        keep=core["keep"],
        seed=core["seed"],
        size=parse_size(core["size"], f"{where}: size") if core["size"] else None,
        device=core["device"],
        out=core["out"],
        generator=generator_name,
        generator_options=generator_options,
        scorer=scorer_name,
        scorer_options=scorer_options,
        scorer_required=explicit or bool(core["keep"]),
        losses=losses,
    )


def _table(value: Any, key: str, where: str) -> tuple[str | None, dict[str, Any]]:
    """Split ``generator = "x"`` or ``[generator] name = "x" ...`` into (name, options)."""
    if value is None:
        return None, {}
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        raise UsageError(f"{where}: '{key}' must be a name or a table with a 'name', got {quote(value)}")
    options = dict(value)
    name = options.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise UsageError(f"{where}: '{key}.name' must be a string, got {quote(name)}")
    if name is None and options:
        raise UsageError(f"{where}: '{key}' has options but no 'name'")
    return name, options


def _lookup(registry: Registry, kind: str, name: str, where: str):
    try:
        return registry.get(kind, name)
    except UsageError as error:
        raise UsageError(f"{where}: {error}") from None


def _resolve_losses(value: Any, registry: Registry, where: str) -> tuple[LossSpec, ...]:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: 'losses' must be a table like [losses.tv] weight = 0.1")
    specs = []
    for name, settings in value.items():
        if not isinstance(settings, dict):
            settings = {"weight": settings}
        settings = dict(settings)
        weight = Option("weight", float, 1.0, "").convert(settings.pop("weight", 1.0), f"{where}: losses.{name}.weight")
        loss = _lookup(registry, "loss", name, where)
        options = resolve_options(loss.options, settings, where, f"losses.{name}")
        specs.append(LossSpec(name, weight, options))
    return tuple(specs)


def parse_loss_flag(text: str) -> tuple[str, float]:
    """``--loss tv:0.1`` -> ('tv', 0.1); the weight defaults to 1."""
    name, weight = split_weight(text, "--loss", example="--loss tv:0.1")
    if not name:
        raise UsageError(f"--loss {quote(text)}: expected NAME or NAME:WEIGHT, e.g. --loss tv:0.1")
    return name, 1.0 if weight is None else weight


def parse_size(text: str, where: str = "--size") -> tuple[int, int]:
    """'256x128' -> (256, 128); each side between 1 and MAX_SIDE."""
    width, sep, height = text.lower().strip().partition("x")
    try:
        size = (int(width), int(height))
        if not sep:
            raise ValueError
    except ValueError:
        raise UsageError(f"{where}: {quote(text)} is not a size; write WIDTHxHEIGHT, e.g. 256x256") from None
    if min(size) < 1 or max(size) > MAX_SIDE:
        raise UsageError(f"{where}: {quote(text)}: each side must be between 1 and {MAX_SIDE} pixels")
    return size


def format_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
