"""Prompt syntax: ``text:weight|other text:-1``, and the one ``NAME:WEIGHT`` parser.

Parts are separated by ``|``. A part ends in ``:WEIGHT`` when its last colon is followed by
a number and nothing else; a negative weight pushes the image away from that text. A colon
followed by a space stays text (``a portrait: watercolor``). A weightless part weighs 1.
The same rule, through `split_weight`, reads ``--loss tv:0.1`` and plugins' weighted specs
(``clip:shapes:0.5``, ``image.png:-1``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UsageError, quote

# The tail after the last colon, when it has no whitespace: a weight (or, strictly, a mistake).
_WEIGHT_TAIL = re.compile(r"^(?P<text>.*):(?P<weight>\S*)$", re.DOTALL)


def split_weight(text: str, where: str, *, example: str = "'text:0.5'",
                 colons_in_name: bool = False) -> tuple[str, float | None]:
    """``'tv:0.1'`` -> ``('tv', 0.1)``; ``'tv'`` -> ``('tv', None)``: the weight is the tail after
    the last colon, when that tail has no whitespace (``'a portrait: watercolor'`` is all text).

    By default such a tail must be a weight, so ``'text:abc'`` is an error. With
    `colons_in_name` (names like ``clip:ViT-B-32@laion`` or ``C:\\x.png``) a tail that is not
    a number belongs to the name. A weight is a finite non-zero number, negative allowed.
    Raises UsageError naming `where`, the text and an `example` of the right form.
    """
    text = text.strip()
    match = _WEIGHT_TAIL.match(text)
    if not match:
        return text, None
    name, raw = match["text"].strip(), match["weight"]
    try:
        weight = float(raw)
    except ValueError:
        if colons_in_name:
            return text, None
        weight = math.nan
    hint = "" if colons_in_name else " (to keep a colon in the text, follow it with a space)"
    if not math.isfinite(weight) or weight == 0:
        raise UsageError(f"{where}: bad weight {quote(raw, 20)} in {quote(text)}; a weight is a non-zero "
                         f"number, e.g. {example}{hint}")
    if not name:
        raise UsageError(f"{where}: {quote(text)} has a weight but nothing before it; write NAME:WEIGHT, "
                         f"e.g. {example}")
    return name, weight


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
        # the input is quoted once: the whole prompt when it has several parts (and is short), and the part
        context = f"{where} {quote(text)}" if "|" in text and len(text) <= 60 else where
        part, weight = split_weight(part, context, example="'text:0.5' or 'text:-1'")
        parts.append(PromptPart(part, 1.0 if weight is None else weight))
    if not any(p.weight > 0 for p in parts):
        raise UsageError(f"{where} {quote(text)}: needs at least one part with a positive weight")
    return Prompt(text, tuple(parts))
