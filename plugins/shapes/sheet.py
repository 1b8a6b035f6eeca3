"""A contact sheet of an evaluation: each image with its prompt and what was read wrong."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

SCALE = 2
COLUMNS = 10
PAD = 8
LINE = 13
TEXT_LINES = 5


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: a fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(entries: list[tuple["Image", str, dict[str, bool]]], title: str) -> "Image":
    """`entries` are (image, prompt, marks per attribute); wrong attributes are listed in red."""
    from PIL import Image, ImageDraw

    cell = 64 * SCALE
    columns = max(1, min(COLUMNS, len(entries)))
    rows = -(-len(entries) // columns)
    cell_h = cell + TEXT_LINES * LINE + PAD
    header = 2 * LINE + PAD
    sheet = Image.new("RGB", (PAD + columns * (cell + PAD), header + rows * cell_h + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(11)
    draw.text((PAD, PAD), title, fill="black", font=_font(14))
    for number, (image, prompt, marks) in enumerate(entries):
        x = PAD + (number % columns) * (cell + PAD)
        y = header + (number // columns) * cell_h
        picture = image.convert("RGB").resize((64, 64), Image.BOX) if image.size != (64, 64) else image.convert("RGB")
        sheet.paste(picture.resize((cell, cell), Image.NEAREST), (x, y))
        lines = textwrap.wrap(prompt, 22)[: TEXT_LINES - 1]
        for line_number, line in enumerate(lines):
            draw.text((x, y + cell + 2 + line_number * LINE), line, fill="black", font=font)
        wrong = [key for key, right in marks.items() if not right]
        verdict = "all right" if not wrong else "wrong: " + ", ".join(key.replace("_", " ") for key in wrong)
        draw.text((x, y + cell + 2 + len(lines) * LINE), textwrap.shorten(verdict, 30, placeholder="..."),
                  fill=(0, 130, 0) if not wrong else (200, 0, 0), font=font)
    return sheet
