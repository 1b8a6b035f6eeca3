"""Run folders, atomic writes that never overwrite, PNG metadata and run.json.

Every file appears whole or not at all: it is written under a temporary name in the same
folder, flushed to disk, then linked to its final name, which fails rather than replace a
file that exists. Run folders are created with an exclusive mkdir, so two processes writing
into the same `--out` never share one.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtengineError, UsageError

if TYPE_CHECKING:
    from PIL.Image import Image

PNG_JSON_KEY = "artengine"
PNG_PARAMETERS_KEY = "parameters"  # stable-diffusion-webui's key, read by many image tools


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "untitled"


def new_run_dir(out: str | Path, label: str) -> Path:
    """A new, empty folder under `out` named by time and `label`; never an existing one."""
    out = Path(out)
    made = missing_folders(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        remove_empty(made)
        raise UsageError(f"--out '{out}': cannot create the output folder: {error.strerror or error}") from None
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(label)}"
    for attempt in range(1, 10_000):
        candidate = out / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            remove_empty(made)  # e.g. out of inodes: leave no empty --out behind either
            raise UsageError(f"--out '{out}': cannot write there: {error.strerror or error}") from None
    raise ArtengineError(f"--out '{out}': too many runs named {base!r}")


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first (what a mkdir -p makes)."""
    return [path for path in (folder, *folder.parents) if not path.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty: undo a mkdir -p that led nowhere."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _write_temp(folder: Path, name: str, data: bytes | Callable[[Path], object]) -> Path:
    """`data` (bytes, or a function that writes the file at the path it is given) under a
    temporary name beside `name`, on disk (fsync) before anyone renames it into place."""
    temp = folder / f".{name}.tmp-{os.getpid()}"
    try:
        if callable(data):
            data(temp)
            with open(temp, "rb") as handle:
                os.fsync(handle.fileno())
        else:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise ArtengineError(f"cannot write '{folder / name}': {error.strerror or error}") from None
    except BaseException:  # an interrupt or a library's own error: leave no temporary file behind
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_new(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, or to `path` with a -2, -3... suffix if that name is taken."""
    temp = _write_temp(path.parent, path.name, data)
    try:
        for attempt in range(1, 10_000):
            target = path if attempt == 1 else path.with_stem(f"{path.stem}-{attempt}")
            try:
                os.link(temp, target)  # unlike rename, link refuses to replace an existing file
                return target
            except FileExistsError:
                continue
        raise ArtengineError(f"cannot find a free name for '{path}'")
    except OSError as error:
        raise ArtengineError(f"cannot write '{path}': {error.strerror or error}") from None
    finally:
        temp.unlink(missing_ok=True)


def replace_file(path: Path, data: bytes | Callable[[Path], object]) -> None:
    """Atomically replace one of the program's own files (run.json, a checkpoint), never a
    user's: readers see the old file or the new one, never half of one, even after a crash.

    `data` is the bytes, or a function that writes the file at the path it is given, for
    libraries that write to a path (`safetensors.torch.save_file`, `faiss.write_index`)."""
    temp = _write_temp(path.parent, path.name, data)
    try:
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise ArtengineError(f"cannot write '{path}': {error.strerror or error}") from None


def _rewrite_in_place(path: Path, data: bytes) -> bool:
    try:
        size = path.stat().st_size
        if len(data) > size:
            return False
        with open(path, "r+b") as handle:  # no new file, no new block: works on a full disk
            handle.write(data + b" " * (size - len(data)))  # trailing blanks: still valid JSON
            handle.flush()
            os.fsync(handle.fileno())
        return True
    except OSError:
        return False


SLACK = 1024
BLOCK = 4096


def write_json(path: Path, data: Any) -> None:
    """Replace the JSON record `path` (run.json) with `data` (see `safe_io.dump_json`).

    When the atomic replace fails (a full disk has no room for the temporary copy), the file
    is rewritten in place if the new text fits in its present size: the blocks it holds are
    reused, so the record can still say how the run ended. For that, the text is padded with
    blanks (valid JSON) to whole blocks with at least SLACK bytes to spare.
    """
    from .safe_io import dump_json

    text = dump_json(data)
    padded = -(-(len(text) + SLACK) // BLOCK) * BLOCK
    try:
        replace_file(path, text + b" " * (padded - len(text)))
    except (ArtengineError, OSError):
        if not _rewrite_in_place(path, text):
            raise


# -- PNG metadata ------------------------------------------------------------------------


def png_bytes(image: "Image", parameters: str, record: dict[str, Any]) -> bytes:
    """Encode `image` as PNG with a webui-style `parameters` text and a JSON `artengine` chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt(PNG_PARAMETERS_KEY, parameters)
    info.add_itxt(PNG_JSON_KEY, json.dumps(record, sort_keys=True, ensure_ascii=False))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_png_metadata(path: str | Path) -> dict[str, Any]:
    """The `artengine` JSON record of a PNG written by artengine (or, lacking it, what its
    webui-style `parameters` text records); UsageError otherwise."""
    from .images import open_image
    from .safe_io import IMAGE_LIMIT, load_json, read_user_file

    data = read_user_file(path, "image", IMAGE_LIMIT)
    with open_image(data, f"'{path}'", "PNG image") as image:
        texts = image.text if hasattr(image, "text") else {}
        text, parameters = texts.get(PNG_JSON_KEY), texts.get(PNG_PARAMETERS_KEY)
    if text is None and parameters:  # a tool that rewrote the PNG may have kept only this text
        from .infotext import record_from_parameters

        return record_from_parameters(parameters, str(path))
    if text is None:
        raise UsageError(f"'{path}' has no artengine metadata (was it written by `artengine generate`?)")
    record = load_json(text, f"'{path}': its artengine metadata")
    if not isinstance(record, dict):
        raise UsageError(f"'{path}': its artengine metadata is not a JSON object")
    return record
