"""Option declarations: each plugin item declares its options once; everything reads them.

The CLI (`--set generator.steps=50`), config files, `artengine list` and the docs all go
through `Option` and `resolve_options`, so a value is checked the same way wherever it
comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .errors import UsageError, closest, quote

TYPES = {int: "int", float: "float", str: "str", bool: "bool", list: "list"}


@dataclass(frozen=True)
class Option:
    """One setting of a generator, scorer, loss or model loader.

    `type` is one of int, float, str, bool or list (a list of strings). `choices`
    restricts the value to a set; `min`/`max` bound numbers (inclusive). `infotext` is the
    key a PNG's webui-style `parameters` text gives it, for options that mean what a
    stable-diffusion-webui key means (e.g. "CFG scale"); others get their name in sentence
    case ("top_k" -> "Top k").
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    infotext: str = ""

    def __post_init__(self):
        if self.type not in TYPES:
            raise TypeError(f"option '{self.name}': type must be one of {', '.join(TYPES.values())}")

    @property
    def type_name(self) -> str:
        return TYPES[self.type]

    def describe(self) -> dict:
        """The declaration as plain data, for `list --json` and the docs."""
        out = {"name": self.name, "type": self.type_name, "default": self.default, "help": self.help}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def convert(self, value: Any, where: str) -> Any:
        """Check `value` (from TOML, JSON or `--set`) and return it as `type`.

        Values are typed as TOML types them; the one conversion is that a list option also
        takes one string of comma-separated items.
        """
        if self.type is list and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        value = _check_type(value, self.type, where)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                _check_text(text, where)
        if self.choices and value not in self.choices:
            raise UsageError(
                f"{where}: {quote(value)} is not one of {', '.join(map(repr, self.choices))}"
                + closest(str(value), map(str, self.choices))
            )
        if self.min is not None and value < self.min:
            raise UsageError(f"{where}: {quote(value)} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise UsageError(f"{where}: {quote(value)} is above the maximum {self.max}")
        return value


def _check_type(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if kind is not list and type(value) is kind:
        if kind is float and not math.isfinite(value):
            raise UsageError(f"{where}: expected a finite number, got {value}")
        return value
    wanted = "list of strings" if kind is list else TYPES[kind]
    raise UsageError(f"{where}: expected {wanted}, got {type(value).__name__} {quote(value)}")


def _check_text(text: str, where: str) -> None:
    """Every setting is recorded as UTF-8 (run.json, PNG metadata) and many are file names: a NUL
    byte, or bytes from the OS that are not UTF-8, are refused here, before any work starts."""
    if "\0" in text:
        raise UsageError(f"{where}: {quote(text)} contains a NUL byte, which no setting or file name can hold")
    problem = utf8_error(text)
    if problem:
        raise UsageError(f"{where}: {quote(text)} is not UTF-8 text: {problem}; artengine records "
                         "settings as UTF-8, so rename the file or folder, or retype the text")


def utf8_error(text: str) -> str | None:
    """Why `text` cannot be written as UTF-8 (it holds bytes the OS gave that are not UTF-8), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        byte = text[error.start].encode("utf-8", "surrogateescape")
        shown = f"the byte 0x{byte[0]:02x}" if len(byte) == 1 else f"{text[error.start]!a}"
        return f"character {error.start + 1} is {shown}, which is not UTF-8"
    return None


def resolve_options(
    declared: Iterable[Option], given: Mapping[str, Any], where: str, table: str = ""
) -> dict[str, Any]:
    """Defaults overlaid with `given`; an unknown name is an error naming the closest valid one.

    Messages read "{where}: {table}.{name}: ...", e.g. "config file 'a.toml': generator.steps: ...".
    """
    prefix = f"{table}." if table else ""
    by_name = {option.name: option for option in declared}
    for name in given:
        if name not in by_name:
            valid = ", ".join(by_name) or "none"
            hint = closest(name, by_name).replace("'", f"'{prefix}", 1)
            raise UsageError(f"{where}: unknown option {quote(prefix + str(name))}{hint}; valid: {valid}")
    return {
        name: option.convert(given[name], f"{where}: {prefix}{name}") if name in given else option.default
        for name, option in by_name.items()
    }
