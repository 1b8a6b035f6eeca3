"""What each endpoint's JSON body may hold, checked before anything reads it: a wrong shape (a
string where an object belongs, `prompt: null`, a number where text belongs, a run name longer
than a file name) is one line naming the field (422), never a traceback or an image of "None".

Every value the page sends is text, exactly as typed; the engine then checks it as it checks
the same text given as flags (settings.py).
"""

from __future__ import annotations

import json
from typing import Any

TEXT = 100_000
"""Characters in a text value (a prompt list, axes); the body's 1 MB bounds the rest."""
FIELDS = "fields"
"""A form's fields: option key -> text as typed (null: not given)."""

SHAPES: dict[str, dict[str, Any]] = {
    "generate": {"prompt": TEXT, "negative": TEXT, "fields": FIELDS},
    "compare": {"prompt": TEXT, "negative": TEXT, "fields": FIELDS, "configurations": [{"name": 200, "fields": FIELDS}],
                "axes": TEXT},
    "reproduce": {"path": 4096},
    "resume": {"run": 255},  # a run folder's name: one file name
    "uploads": {"data": 64_000_000},  # base64; the body's own limit (UPLOAD_BODY) bounds it first
}
KEY = 200
"""Characters in a field's key (`generator.steps`)."""
ITEMS = 100
"""Configurations in one compare."""
BODY = "body"
"""What an error names when the body as a whole is wrong."""


class Invalid(Exception):
    """`field` (the form's name for it) is not what belongs there."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


def parse(body: bytes, kind: str) -> dict[str, Any]:
    """The body of a `kind` request, checked against SHAPES[kind]; raises Invalid."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise Invalid(BODY, "nested too deeply to be a form", 400) from None
    except ValueError as error:  # also bytes that are not UTF-8, and ints of thousands of digits
        raise Invalid(BODY, f"not JSON ({error})", 400) from None
    check(data, SHAPES[kind], BODY)
    return data


def check(value: Any, shape: Any, where: str) -> None:
    if isinstance(shape, int):
        if not isinstance(value, str):
            raise Invalid(where, f"expected text, got {kind_of(value)}")
        if len(value) > shape:
            raise Invalid(where, f"{len(value)} characters is over the limit of {shape}")
    elif shape == FIELDS:
        check_fields(value, where)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise Invalid(where, f"expected a list, got {kind_of(value)}")
        if len(value) > ITEMS:
            raise Invalid(where, f"{len(value)} items is over the limit of {ITEMS}")
        for index, item in enumerate(value):
            check(item, shape[0], f"{where}[{index}]")
    else:
        if not isinstance(value, dict):
            raise Invalid(where, f"expected an object with {', '.join(shape)}, got {kind_of(value)}")
        for key, item in value.items():
            inner = key if where == BODY else f"{where}.{key}"
            if key not in shape:
                raise Invalid(inner[:KEY], f"not a field here; expected {', '.join(shape)}")
            check(item, shape[key], inner)


def check_fields(value: Any, where: str) -> None:
    """A form's fields; an error names the field's key, as the page marks it (`generator.steps`)."""
    if not isinstance(value, dict):
        raise Invalid(where, f"expected an object of field: text, got {kind_of(value)}")
    within = "" if where == FIELDS else f"{where}."  # a compare's configuration says which
    for key, item in value.items():
        if len(key) > KEY:
            raise Invalid(f"{within}{key[:KEY]}…", f"a field key over the limit of {KEY} characters")
        if item is not None and not isinstance(item, str):
            raise Invalid(f"{within}{key}", f"expected text (as typed in the form), got {kind_of(item)}")
        if item is not None and len(item) > TEXT:
            raise Invalid(f"{within}{key}", f"{len(item)} characters is over the limit of {TEXT}")


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    names = {int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return names[type(value)]
