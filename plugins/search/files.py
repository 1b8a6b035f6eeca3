"""Finding a collection's image files and reading one: content hash, pixels, metadata.

A file is read once: its bytes give the content hash (sha256), and, unless an embedding for
that hash is already known, the decoded pixels and the artengine PNG metadata. Anything that
cannot be read (not an image, truncated, too many pixels) becomes a `Skipped` reason, never
an exception: one bad file must not stop a collection.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artengine import UsageError

IMAGE_LIMIT = 512 * 1024 * 1024
"""Bytes of one image file: as the engine's reader allows."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_PIXELS = 89_478_485
"""Pillow's decompression-bomb threshold (about 9459 x 9459): larger images are skipped."""
MAX_ASPECT = 64
"""Longest side over shortest: CLIP's preprocessing scales the short side up to its input size
(224 pixels), so a 1 x 400,000 strip of a few hundred bytes would become 224 x 89,600,000."""
MAX_CAPTION_BYTES = 4096
CAPTION_FILE_LIMIT = 1024 * 1024
METADATA_COLUMNS = ("prompt", "seed", "generator", "score", "caption")


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute
    size: int
    mtime: float


@dataclass
class ReadFile:
    """What reading one file gave: its hash, and the pixels/metadata when they were needed."""

    entry: FileEntry
    hash: str = ""
    pixels: Any = None  # the model's input tensor, or None when the hash was already known
    width: int | None = None
    height: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    embedded: bool = False  # set once its embedding is made


def find_images(roots: list[str | Path], exclude: Path | None = None) -> list[FileEntry]:
    """Image files under `roots` (recursively, hidden folders skipped), sorted by path."""
    found: dict[str, FileEntry] = {}
    excluded = exclude.resolve() if exclude is not None else None
    for root in roots:
        root = Path(root).expanduser()
        if not root.exists():
            raise UsageError(f"folder '{root}' does not exist")
        if root.is_file():
            candidates = [root]
        else:
            candidates = []
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != excluded)
                candidates += [Path(folder, name) for name in files]
        for path in candidates:
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                try:
                    stat = path.stat()
                except OSError:
                    continue  # vanished while walking
                absolute = str(path.resolve())
                found[absolute] = FileEntry(absolute, stat.st_size, stat.st_mtime)
    return [found[key] for key in sorted(found)]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(entry: FileEntry, known_hashes, transform) -> ReadFile:
    """Hash the file; decode it (through `transform`, PIL image -> model input) unless its hash is
    in `known_hashes`. Never raises for a bad file: the reason goes to `error`."""
    from artengine.files import read_user_file

    result = ReadFile(entry)
    try:  # a FIFO named .png, a link to /dev/zero or a huge file: skipped, never read
        data = read_user_file(entry.path, "image", IMAGE_LIMIT)
    except UsageError as error:
        result.error = why(error, entry.path)
        return result
    result.hash = content_hash(data)
    if result.hash in known_hashes:
        return result
    try:
        result.pixels, result.width, result.height = decode(data, transform)
    except SkipImage as reason:
        result.error = str(reason)
        return result
    result.metadata = {**generation_metadata(entry.path), **caption_beside(entry.path)}
    return result


class SkipImage(Exception):
    """Why an image cannot be used (a reason for the user, not a bug)."""


def decode(data: bytes, transform):
    """(model input, width, height) of an encoded image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            problem = shape_problem(width, height)  # before a pixel is decoded
            if problem:
                raise SkipImage(problem)
            image.draft("RGB", (width, height))  # JPEG: decode no larger than needed
            rgb = image.convert("RGB")  # decodes every pixel: a truncated file fails here
        return transform(rgb), width, height
    except SkipImage:
        raise
    except Image.DecompressionBombError as error:
        raise SkipImage(f"too large ({error})") from None
    except UnidentifiedImageError:
        raise SkipImage("not a readable image (no image format Pillow knows)") from None
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError, MemoryError) as error:
        raise SkipImage(f"not a readable image ({str(error)[:200]})") from None


def shape_problem(width: int, height: int) -> str | None:
    """Why an image of `width` x `height` pixels is not embedded (too many pixels, or a strip
    the preprocessing would blow up), or None."""
    if width * height > MAX_PIXELS:
        return f"too large ({width}x{height} pixels; at most {MAX_PIXELS:,} are read)"
    if max(width, height) > MAX_ASPECT * max(1, min(width, height)):
        return (f"too elongated ({width}x{height} pixels; at most {MAX_ASPECT}:1, since the model scales the "
                "short side up to its input size)")
    return None


def why(error: UsageError, path: str) -> str:
    """A skip reason from the safe reader's message, without the file name the report adds."""
    return str(error).replace(f"image '{path}' ", "").removesuffix("; give a file").strip()


def generation_metadata(path: str) -> dict[str, Any]:
    """prompt, seed, generator and score of a PNG written by artengine (read by the engine's own
    reader); {} for any other file."""
    from artengine.files import read_png_metadata

    if not path.lower().endswith(".png"):
        return {}
    try:
        record = read_png_metadata(path)
    except UsageError:
        return {}
    wanted = {"prompt": str, "seed": int, "generator": str, "score": float}
    return {key: kind(record[key]) for key, kind in wanted.items()
            if isinstance(record.get(key), (str, int, float)) and not isinstance(record.get(key), bool)}


def caption_beside(path: str) -> dict[str, str]:
    """The caption of an image-caption pair (`NAME.txt` beside `NAME.png`, as `data shapes` writes)."""
    from artengine.files import read_user_file

    caption = Path(path).with_suffix(".txt")
    if not caption.exists():
        return {}
    try:  # the safe reader: a FIFO or a device named .txt would block or never end
        data = read_user_file(caption, "caption", CAPTION_FILE_LIMIT)
    except UsageError as error:
        import artengine

        artengine.warn(f"{error}; the image is indexed without it")
        return {}
    text = data[:MAX_CAPTION_BYTES].decode("utf-8", "replace").strip()
    return {"caption": text.splitlines()[0]} if text else {}
