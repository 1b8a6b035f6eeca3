"""`read_image(path, where)`: an image file from the user, read whole or refused with one clear line.

Files of unknown origin may be missing, empty, truncated, not images at all, or claim a size
meant to exhaust memory (a "decompression bomb"): each becomes a UsageError naming the file.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .errors import UsageError, warn
from .safe_io import IMAGE_LIMIT, check_path, read_user_file

if TYPE_CHECKING:
    from PIL.Image import Image


def read_image(path: str | Path, where: str) -> "Image":
    """The image at `path` as a fully decoded RGB PIL image; `where` names the setting, e.g.
    'generator.init_image'."""
    path = check_path(path, f"{where}: image file").expanduser()
    with open_image(read_user_file(path, f"{where}: image file", IMAGE_LIMIT), f"{where}: '{path}'") as image:
        return image.convert("RGB")  # decodes every pixel, so a truncated file fails here


_WARNED: set[str] = set()


@contextlib.contextmanager
def open_image(data: bytes, where: str, kind: str = "image") -> Iterator["Image"]:
    """`data` opened as a PIL image, for a `with` block; one UsageError line (naming `where`)
    for anything that is not a readable image, raised inside the block too.

    PIL's DecompressionBombWarning (an image of more pixels than PIL deems safe, but fewer than
    twice that, which PIL refuses) becomes one artengine warning line instead of a Python
    warning with a source line."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        for warning in caught:
            if issubclass(warning.category, Image.DecompressionBombWarning):
                pixels = image.size[0] * image.size[1]
                message = (f"{where} has {pixels:,} pixels, more than the {Image.MAX_IMAGE_PIXELS:,} PIL treats as "
                           "safe from untrusted sources; reading it anyway (it may take a lot of memory)")
                if message not in _WARNED:  # once, though a generator's check and run both read it
                    _WARNED.add(message)
                    warn(message)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        with image:
            yield image
    except Image.DecompressionBombError:
        raise UsageError(f"{where} is not a readable {kind}: it claims more than twice the {Image.MAX_IMAGE_PIXELS:,} "
                         "pixels PIL treats as safe from untrusted sources (a possible decompression bomb)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise UsageError(f"{where} is not a readable {kind} ({str(error)[:200]})") from None
