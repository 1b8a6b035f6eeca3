"""`--where`: a small filter language over the index table's columns, never evaluated as code.

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | COLUMN OP VALUE
    OP         := = | != | < | <= | > | >= | contains
    VALUE      := "text" | 'text' | number | true | false | null

e.g. `generator = "dalle" and score > 0.3`, `prompt contains "red" or seed < 10`. It becomes a
boolean mask over the table through pyarrow.compute; a row whose column is empty (null)
matches no comparison (`column = null` finds those, `column != null` the others).
"""

from __future__ import annotations

import re
from typing import Any

from artengine import UsageError, closest

TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"""
                   r"""|(?P<op><=|>=|!=|==|=|<|>|\(|\))|(?P<word>[A-Za-z_][A-Za-z_0-9]*))""")
COMPARISONS = {"=", "==", "!=", "<", "<=", ">", ">=", "contains"}
SYNTAX = 'COLUMN OP VALUE joined by and/or/not and parentheses, e.g. generator = "dalle" and score > 0.3'


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = TOKEN.match(text, at)
        if not match:
            fail(text, f"cannot read {text[at:].strip()[:20]!r}")
        at = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "number":
            value = float(value) if any(c in value for c in ".eE") else int(value)
        elif kind == "word" and value.lower() in ("and", "or", "not", "contains", "true", "false", "null"):
            kind, value = "keyword", value.lower()
        tokens.append((kind, value))
    return tokens


def fail(text: str, message: str):
    raise UsageError(f"--where {text!r}: {message}; write {SYNTAX}")


class Parser:
    """Recursive descent straight to pyarrow boolean arrays."""

    def __init__(self, text: str, table):
        self.text, self.table, self.tokens, self.at = text, table, tokenize(text), 0
        if not self.tokens:
            fail(text, "it is empty")

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def parse(self):
        mask = self.expression()
        if self.at < len(self.tokens):
            fail(self.text, f"unexpected {self.tokens[self.at][1]!r}")
        return mask

    def expression(self):
        import pyarrow.compute as pc

        mask = self.term()
        while self.peek() == ("keyword", "or"):
            self.take()
            mask = pc.or_(mask, self.term())
        return mask

    def term(self):
        import pyarrow.compute as pc

        mask = self.factor()
        while self.peek() == ("keyword", "and"):
            self.take()
            mask = pc.and_(mask, self.factor())
        return mask

    def factor(self):
        import pyarrow.compute as pc

        kind, value = self.take()
        if (kind, value) == ("keyword", "not"):
            return pc.invert(self.factor())
        if (kind, value) == ("op", "("):
            mask = self.expression()
            if self.take() != ("op", ")"):
                fail(self.text, "a '(' is not closed")
            return mask
        if kind != "word":
            fail(self.text, f"expected a column name, got {value if value is not None else 'the end'!r}")
        return self.comparison(value)

    def comparison(self, column: str):
        import pyarrow as pa
        import pyarrow.compute as pc

        names = self.table.column_names
        if column not in names:
            raise UsageError(f"--where: no column {column!r}{closest(column, names)}; columns: {', '.join(names)}")
        kind, op = self.take()
        if op not in COMPARISONS:
            fail(self.text, f"expected an operator (=, !=, <, <=, >, >=, contains) after {column!r}")
        kind, value = self.take()
        if kind not in ("string", "number") and value not in ("true", "false", "null"):
            fail(self.text, f"expected a value after {column} {op}")
        values = self.table.column(column)
        if value == "null":
            if op not in ("=", "==", "!="):
                fail(self.text, "null is only compared with = or !=")
            missing = pc.is_null(values)
            return missing if op != "!=" else pc.invert(missing)
        if kind == "keyword":
            value = value == "true"
        numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
        if op == "contains" and (numeric or kind != "string"):
            raise UsageError(f"--where: 'contains' looks for a quoted text in a text column; {column!r} "
                             f"holds {'numbers' if numeric else 'text'}")
        if numeric != (kind == "number"):
            raise UsageError(f"--where: column {column!r} holds {'numbers' if numeric else 'text'}; "
                             f"compare it with {'a number' if numeric else 'a quoted text'}")
        if op == "contains":
            result = pc.match_substring(values, value)
        else:
            function = {"=": pc.equal, "==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
                        ">": pc.greater, ">=": pc.greater_equal}[op]
            result = function(values, pa.scalar(value))
        return pc.fill_null(result, False)


def mask(text: str, table):
    """The rows of `table` (a pyarrow Table) that `text` selects, as a numpy bool array."""
    import numpy as np

    return np.asarray(Parser(text, table).parse().to_numpy(zero_copy_only=False), dtype=bool)
