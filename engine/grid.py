"""A labelled grid image: one row per configuration, one column per prompt and candidate."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_CELL = 128  # small images (64 px shapes) are upscaled so the grid stays readable
PAD = 6


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType: a fixed-size bitmap font
        return ImageFont.load_default()


def render_grid(
    rows: list[tuple[str, list["Image | None"]]], column_labels: list[str], title: str = ""
) -> "Image":
    """`rows` is [(label, images)], images aligned with `column_labels`; None leaves a gap."""
    from PIL import Image, ImageDraw

    images = [image for _, row in rows for image in row if image is not None]
    width = max([image.width for image in images] + [1])
    height = max([image.height for image in images] + [1])
    scale = max(1, -(-MIN_CELL // max(width, height)))  # integer upscaling keeps pixels crisp
    cell_w, cell_h = width * scale, height * scale
    font, small = _font(15), _font(12)
    labels = [_wrap_label(label, cell_h) for label, _ in rows]
    # the label column is as wide as its longest line, so the images are not pushed aside
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max([measure.multiline_textbbox((0, 0), text, font=small)[2] for text in labels if text] + [0])
    label_width += 2 * PAD
    header = 48 + (24 if title else 0)
    canvas = Image.new(
        "RGB",
        (label_width + len(column_labels) * (cell_w + PAD) + PAD, header + len(rows) * (cell_h + PAD) + PAD),
        "white",
    )
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, PAD), title, fill="black", font=font)
    for column, label in enumerate(column_labels):
        x = label_width + PAD + column * (cell_w + PAD)
        wrapped = "\n".join(textwrap.wrap(label, max(8, cell_w // 7))[:3])
        draw.multiline_text((x, header - 44), wrapped, fill="black", font=small)
    for row_number, (_, row) in enumerate(rows):
        y = header + PAD + row_number * (cell_h + PAD)
        draw.multiline_text((PAD, y), labels[row_number], fill="black", font=small)
        for column, image in enumerate(row):
            x = label_width + PAD + column * (cell_w + PAD)
            if image is None:
                draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), outline="gray")
            else:
                canvas.paste(image.convert("RGB").resize((image.width * scale, image.height * scale), Image.NEAREST), (x, y))
    return canvas


def _wrap_label(label: str, cell_h: int) -> str:
    """A row's label in lines of at most 34 characters (28 for the name), as many as fit beside a cell."""
    lines = label.splitlines() or [""]
    wrapped = [*textwrap.wrap(lines[0], 28)[:2], *[w for line in lines[1:] for w in textwrap.wrap(line, 34)]]
    return "\n".join(wrapped[: max(2, cell_h // 16)])
