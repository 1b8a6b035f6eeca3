"""Reading a palette option: colour names or hex codes, as Pillow understands them."""

from __future__ import annotations

from artengine import UsageError


def parse_colours(values: list[str], where: str) -> tuple[tuple[float, float, float], ...]:
    """RGB triples in [0, 1]; UsageError naming the colour that cannot be read."""
    from PIL import ImageColor

    if not values:
        raise UsageError(f"{where}: give at least one colour, e.g. red,#28aa3c")
    colours = []
    for value in values:
        try:
            rgb = ImageColor.getrgb(value.strip())
        except ValueError:
            raise UsageError(f"{where}: {value!r} is not a colour; use a name (red) or a hex code (#dc2828)") from None
        colours.append(tuple(channel / 255 for channel in rgb[:3]))
    return tuple(colours)
