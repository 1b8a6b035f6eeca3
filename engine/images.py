"""`read_image(path, where)`: an image file from the user, read whole or refused with one clear line.

Files of unknown origin may be missing, empty, truncated, not images at all, or claim a size
meant to exhaust memory (a "decompression bomb"): each becomes a UsageError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image


def read_image(path: str | Path, where: str) -> "Image":
    """The image at `path` as a fully decoded RGB PIL image; `where` names the setting, e.g.
    'generator.init_image'."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{where}: image file '{path}' does not exist")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # decodes every pixel, so a truncated file fails here
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UsageError(f"{where}: '{path}' is not a readable image ({error})") from None
