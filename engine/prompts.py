"""Prompt syntax: ``text:weight|other text:-1``.

Parts are separated by ``|``. A part ends in ``:WEIGHT`` when its last colon is followed by
a number and nothing else; a negative weight pushes the image away from that text. A colon
followed by a space stays text (``a portrait: watercolor``). A weightless part weighs 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError, quote

# The tail after the last colon, when it has no whitespace: a weight, or a mistake.
_WEIGHT_TAIL = re.compile(r"^(?P<text>.*):(?P<weight>\S*)$", re.DOTALL)


@dataclass(frozen=True)
class PromptPart:
    text: str
    weight: float


@dataclass(frozen=True)
class Prompt:
    """A parsed prompt; `text` is exactly what the user wrote."""

    text: str
    parts: tuple[PromptPart, ...]

    @property
    def positive(self) -> tuple[PromptPart, ...]:
        return tuple(p for p in self.parts if p.weight > 0)

    @property
    def negative(self) -> tuple[PromptPart, ...]:
        return tuple(p for p in self.parts if p.weight < 0)

    def __str__(self) -> str:
        return self.text


def parse_prompt(text: str, where: str = "prompt") -> Prompt:
    """Parse one prompt; raises UsageError saying which part is wrong and how to fix it."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{where} is empty: give some text, e.g. 'a red circle'")
    text = text.strip()
    parts = []
    for number, raw in enumerate(text.split("|"), start=1):
        part = raw.strip()
        if not part:
            raise UsageError(
                f"{where} {quote(text)}: part {number} is empty; separate parts with a single '|'"
            )
        weight = 1.0
        match = _WEIGHT_TAIL.match(part)
        if match:
            # the input is quoted once: the whole prompt when it has several parts (and is short), and the part
            context = f"{where} {quote(text)}" if "|" in text and len(text) <= 60 else where
            weight = _parse_weight(match["weight"], part, context)
            part = match["text"].strip()
            if not part:
                raise UsageError(f"{where} {quote(text)}: part {number} has a weight but no text")
        parts.append(PromptPart(part, weight))
    if not any(p.weight > 0 for p in parts):
        raise UsageError(f"{where} {quote(text)}: needs at least one part with a positive weight")
    return Prompt(text, tuple(parts))


def _parse_weight(raw: str, part: str, context: str) -> float:
    try:
        weight = float(raw)
    except ValueError:
        weight = math.nan
    if not math.isfinite(weight) or weight == 0:
        raise UsageError(
            f"{context}: bad weight {quote(raw, 20)} in {quote(part)}; a weight is a non-zero number "
            "like 'text:0.5' or 'text:-1' (to keep a colon in the text, follow it with a space)"
        )
    return weight


def read_prompt_file(path: str | Path) -> list[Prompt]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    from .safe_io import read_user_text

    lines = read_user_text(path, "prompt file").splitlines()
    prompts = [
        parse_prompt(line, where=f"{path}:{number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not prompts:
        raise UsageError(f"prompt file '{path}' has no prompts (only blank lines or comments)")
    return prompts
