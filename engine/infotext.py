"""A PNG's `parameters` text in stable-diffusion-webui's infotext layout, and reading it back.

webui writes this text (modules/processing.py, create_infotext) and parses it
(modules/infotext_utils.py, parse_generation_parameters) as::

    a red circle, (blue square:0.5)
    Negative prompt: green
    Seed: 42, Size: 64x64, Generator: dalle, Model: "dalle:shapes", CFG scale: 3.0, Top k: 64

The last line holds `Key: value` pairs; a value with a comma, colon or newline is JSON-quoted,
and an empty value makes webui's parser fail, so empty settings are left out. Prompt weights
use webui's attention syntax, `(text:1.2)`; parts with a negative weight go, unsigned, to the
Negative prompt line. A prompt's own line that starts with "Negative prompt:" gets a backslash
before it, which webui's prompt parser reads as nothing (`_guard`). An option whose meaning is a webui key's declares it (`Option.infotext`,
e.g. "CFG scale"); the others get their name in sentence case (`top_k` -> `Top k`), so that
`steps` and `model` read as webui's `Steps` and `Model`.

The `artengine` JSON chunk stays the exact record. This text is for people and other tools,
and what `reproduce` falls back on when a tool kept only it. `read_png_metadata` reads a
PNG's record back: the JSON chunk, else what this text records.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from . import discovery
from .errors import UsageError
from .images import open_image
from .options import Option
from .outputs import PNG_JSON_KEY, PNG_PARAMETERS_KEY
from .prompts import parse_prompt
from .safe_io import IMAGE_LIMIT, load_json, read_user_file

# webui's `re_param`: one `Key: value` pair of the last line, the value JSON-quoted or up to a comma
PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
NEGATIVE = "Negative prompt:"
_SPECIAL = re.compile(r"([\\()\[\]])")  # what webui's attention syntax reads, so escaped in text
_ATTENTION = re.compile(r"\((?P<text>(?:\\.|[^\\()])*):\s*(?P<weight>[+-]?[\d.]+)\s*\)")


def label(name: str, infotext: str = "") -> str:
    """The key an option gets: its declared webui key, else its name in sentence case."""
    if infotext:
        return infotext
    words = re.sub(r"[^\w \-/]+", " ", name.replace("_", " ")).strip() or "Option"
    return words[:1].upper() + words[1:]


def format_parameters(record: dict[str, Any], declared: Iterable[Option] = ()) -> str:
    """The webui-style text of one image's record (as run.py builds it); `declared` are the
    generator's options, for their keys and order."""
    prompt = parse_prompt(record["prompt"])
    lines = [_guard(", ".join(_attention(part.text, part.weight) for part in prompt.positive))]
    if prompt.negative:
        negative = _guard(", ".join(_attention(part.text, -part.weight) for part in prompt.negative), first=False)
        lines.append(f"{NEGATIVE} {negative}")
    config = record["config"]
    fields: dict[str, Any] = {"Seed": record["seed"], "Size": record["size"], "Generator": record["generator"]}
    if record.get("configuration") not in (None, record["generator"]):
        fields["Configuration"] = record["configuration"]
    infotexts = {option.name: option.infotext for option in declared}
    for name, value in config["generator"].items():
        if name != "name":
            key = label(name, infotexts.get(name, ""))
            fields[key if key not in fields else f"Generator {key.lower()}"] = value
    if config.get("losses"):
        fields["Losses"] = [f"{name}:{spec['weight']:g}" for name, spec in config["losses"].items()]
    if record.get("score") is not None:
        fields["Score"] = f"{record['score']:.4f}"
        fields["Scorer"] = config["scorer"]["name"]
    fields["Version"] = f"artengine {record['artengine']}"
    texts = {key: _text(value) for key, value in fields.items()}
    lines.append(", ".join(f"{key}: {_quote(text)}" for key, text in texts.items() if text.strip()))
    return "\n".join(lines)


def _attention(text: str, weight: float) -> str:
    escaped = _SPECIAL.sub(r"\\\1", text)
    return escaped if weight == 1 else f"({escaped}:{_decimal(weight)})"


def _guard(text: str, first: bool = True) -> str:
    """`text` with a backslash before each line (after the first, unless `first`) that starts,
    spaces aside, with "Negative prompt:". webui's parser takes such a line of a prompt for the
    start of the negative prompt, and drops the words from a negative prompt's later lines;
    its attention parser reads a backslash before a plain character as nothing, so the text the
    prompt conditions on stays the user's (webui itself writes such prompts as they are)."""
    lines = text.split("\n")
    for number, line in enumerate(lines):
        words = line.lstrip()
        if (first or number > 0) and words.startswith(NEGATIVE):
            lines[number] = line[: len(line) - len(words)] + "\\" + words
    return "\n".join(lines)


def _decimal(number: float) -> str:
    """Digits and a point only: webui reads no exponent (`1e-05`) in a weight."""
    return f"{number:.10f}".rstrip("0").rstrip(".")


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _quote(text: str) -> str:
    """As webui's `quote`, and also where its parser would otherwise unquote or trim the value."""
    if any(c in text for c in ',:\n') or text.startswith('"') or text != text.strip():
        return json.dumps(text, ensure_ascii=False)
    return text


# -- reading ---------------------------------------------------------------------------


def read_parameters(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, {key: value}) split as webui's parse_generation_parameters does."""
    *lines, last = text.strip().split("\n")
    if len(PARAM.findall(last)) < 3:  # webui's rule: a last line with fewer pairs is prompt text
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    for line in (line.strip() for line in lines):
        if line.startswith(NEGATIVE) or negative:
            negative.append(line.removeprefix(NEGATIVE).strip())
        else:
            prompt.append(line)
    fields = {}
    for key, value in PARAM.findall(last):
        if len(value) > 1 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                pass
        fields[key] = value
    return "\n".join(prompt), "\n".join(negative), fields


def prompt_from_parameters(prompt: str, negative: str) -> str:
    """artengine's `text:weight|other:-1` syntax for a webui prompt and negative prompt."""
    parts = _parts(prompt) + [(text, -weight) for text, weight in _parts(negative)]
    return "|".join(text if weight == 1 else f"{text}:{weight:g}" for text, weight in parts)


def _parts(line: str) -> list[tuple[str, float]]:
    """`(text:w)` groups, and the text between them, weighing 1."""
    parts, position = [], 0
    for match in _ATTENTION.finditer(line):
        parts += _plain(line[position : match.start()])
        parts.append((_unescape(match["text"]).strip(), float(match["weight"])))
        position = match.end()
    return parts + _plain(line[position:])


def _plain(segment: str) -> list[tuple[str, float]]:
    segment = segment.strip(" ,\n")
    return [(_unescape(segment), 1.0)] if segment else []


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def read_png_metadata(path: str | Path, generator: str | None = None) -> dict[str, Any]:
    """The `artengine` JSON record of a PNG written by artengine (or, lacking it, what its
    webui-style `parameters` text records); UsageError otherwise. With `generator`, a text that
    names no Generator (webui's own PNGs) is read onto that generator's options (PNG Info)."""
    data = read_user_file(path, "image", IMAGE_LIMIT)
    with open_image(data, f"'{path}'", "PNG image") as image:
        texts = image.text if hasattr(image, "text") else {}
        text, parameters = texts.get(PNG_JSON_KEY), texts.get(PNG_PARAMETERS_KEY)
    if text is None and parameters:  # a tool that rewrote the PNG may have kept only this text
        return record_from_parameters(parameters, str(path), generator)
    if text is None:
        raise UsageError(f"'{path}' has no artengine metadata (was it written by `artengine generate`?)")
    record = load_json(text, f"'{path}': its artengine metadata")
    if not isinstance(record, dict):
        raise UsageError(f"'{path}': its artengine metadata is not a JSON object")
    return record


def record_from_parameters(text: str, where: str, fallback: str | None = None) -> dict[str, Any]:
    """The settings a `parameters` text records, in the shape of the `artengine` JSON record
    (prompt, seed, config), for `reproduce`; its checks then validate them like any input.
    A text naming no Generator is read onto `fallback`'s options when given (its seed, if any,
    kept), else refused: it cannot be reproduced."""
    prompt, negative, fields = read_parameters(text)
    generator, seed = fields.get("Generator") or fallback, fields.get("Seed", "")
    if not generator or not (seed.isdigit() or fallback):
        raise UsageError(f"'{where}': its parameters text names no Generator and Seed, so it cannot be reproduced")
    try:
        options = discovery.get_registry().get("generator", generator).options
    except UsageError as error:
        raise UsageError(f"'{where}' parameters: {error}") from None
    by_key = {label(option.name, option.infotext): option for option in options}
    table: dict[str, Any] = {"name": generator}
    for key, value in fields.items():
        if key in by_key:
            table[by_key[key].name] = _typed(by_key[key], value)
    config: dict[str, Any] = {"generator": table, "size": fields.get("Size", "")}
    if fields.get("Scorer"):
        config["scorer"] = fields["Scorer"]
    if fields.get("Losses"):
        config["losses"] = dict(_loss(item) for item in fields["Losses"].split(","))
    record: dict[str, Any] = {"prompt": prompt_from_parameters(prompt, negative), "config": config}
    if seed.isdigit():
        record["seed"] = int(seed)
    if "Configuration" in fields:
        record["configuration"] = fields["Configuration"]
    return record


def _loss(item: str) -> tuple[str, dict[str, Any]]:
    name, sep, weight = item.strip().rpartition(":")
    return (name, {"weight": _typed(WEIGHT, weight)}) if sep else (weight, {})


WEIGHT = Option("weight", float, 1.0, "")


def _typed(option: Option, text: str) -> Any:
    """A value read back as its option's type where it parses; otherwise the text, which the
    option's own check then rejects with a message naming it."""
    try:
        if option.type is bool and text in ("True", "False", "true", "false"):
            return text.lower() == "true"
        if option.type in (int, float):
            return option.type(text)
    except ValueError:
        pass
    return text
