"""Run folders, the program's own folders, atomic writes that never overwrite, PNG metadata and run.json.

Every file appears whole or not at all: it is written under a temporary name in the same
folder, flushed to disk, then linked to its final name, which fails rather than replace a
file that exists. Run folders are created with an exclusive mkdir, so two processes writing
into the same `--out` never share one.

A command that writes or deletes inside a folder the user names (a training run's `--out`, a
code `--cache`, an index) first claims it with `claim_folder`: a folder it creates, or an empty
one, gets a marker file naming what it holds, and only a folder with that marker is ever
written into or cleaned again. A folder of the
user's files, the `--data` folder say, is refused with one line and left untouched.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtengineError, UsageError
from .safe_io import check_path, dump_json, read_own_file

if TYPE_CHECKING:
    from PIL.Image import Image

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
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


MARKER = ".artengine-folder"
"""The file that marks a folder as artengine's own: JSON {"artengine": KIND}."""


def release_made(made: list[Path]) -> None:
    """Undo the creation of `made` (what `missing_folders` listed before claiming made[0]) while
    the claimed folder still holds only its marker: a command that stops on bad input before
    writing anything leaves nothing behind."""
    try:
        if not made or os.listdir(made[0]) != [MARKER]:
            return
        (made[0] / MARKER).unlink()
    except OSError:
        return
    remove_empty(made)


def claim_folder(folder: str | Path, kind: str, flag: str, *, create: bool = True) -> Path:
    """`folder` as this program's own folder of `kind` (e.g. "training run"), safe to write into
    and to clean; UsageError, one line, for anything else.

    A missing folder is created (parents too) and marked; an empty one is marked (nothing in it
    can be lost); one already marked with `kind` is returned as it is (a resumed run, a rebuilt
    cache). A folder of other files is refused, and so is a folder marked for another kind.
    With `create=False` nothing is created or marked: the same checks only (for processes other
    than the one that writes). `flag` names the option in messages ("--out", "--cache")."""
    folder = check_path(Path(folder).expanduser(), flag)
    where = f"{flag} '{folder}'"
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        if create:
            return _create_marked(folder, kind, where)
        return folder
    except OSError as error:  # a name too long, a loop of links, no permission on a parent
        raise UsageError(f"{where}: cannot use that folder: {error.strerror or error}") from None
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{where} is not a folder; give a new folder (nothing is overwritten)")
    found = folder_kind(folder)
    if found == kind:
        return check_no_links_out(folder, where)
    if found is not None:
        raise UsageError(f"{where} is artengine's {found} folder, not a {kind} folder; give a new folder")
    try:
        entries = sorted(os.listdir(folder))
    except OSError as error:
        raise UsageError(f"{where}: cannot read that folder: {error.strerror or error}") from None
    if entries:
        shown = ", ".join(repr(name) for name in entries[:2]) + (", ..." if len(entries) > 2 else "")
        raise UsageError(f"{where} already holds files artengine did not write there ({shown}); "
                         f"give a new or empty folder for the {kind} (nothing in that one is changed)")
    check_no_links_out(folder, where)
    if create:
        _mark(folder, kind, where)
    return folder


def check_no_links_out(folder: Path, where: str) -> Path:
    """`folder`, after checking that no symbolic link inside it leads outside it: artengine writes,
    replaces and deletes files in its own folders, and a planted link (`state -> /home/me`,
    `run.json -> ~/.bashrc`) must not carry that out of the folder. UsageError names the link."""
    real = os.path.realpath(folder)
    for parent, folders, files in os.walk(folder):  # os.walk does not follow links into folders
        for name in folders + files:
            path = os.path.join(parent, name)
            if os.path.islink(path) and os.path.commonpath([os.path.realpath(path), real]) != real:
                raise UsageError(f"{where}: '{path}' is a symbolic link leading outside the folder, which artengine "
                                 "would write through; remove the link (or replace it with the file itself)")
    return folder


def folder_kind(folder: Path) -> str | None:
    """The kind `folder`'s marker names, or None when it has no (readable) marker. The marker is
    read without following a link, so a planted link cannot make a folder look like ours."""
    if not os.path.lexists(folder / MARKER):
        return None
    try:
        value = json.loads(read_own_file(folder / MARKER, "folder marker", 4096))
    except (ArtengineError, ValueError):
        return None
    kind = value.get("artengine") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def _create_marked(folder: Path, kind: str, where: str) -> Path:
    made = missing_folders(folder)
    try:
        folder.mkdir(parents=True)
    except FileExistsError:  # another process made it this instant: judge it as found
        return claim_folder(folder, kind, where.split(" ")[0])
    except OSError as error:
        remove_empty(made)
        raise UsageError(f"{where}: cannot create the folder: {error.strerror or error}") from None
    try:
        _mark(folder, kind, where)
    except BaseException:
        remove_empty(made)
        raise
    return folder


def _mark(folder: Path, kind: str, where: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(folder / MARKER, flags, 0o644)
    except FileExistsError:  # another process marked it first: fine if for the same kind
        if folder_kind(folder) != kind:
            raise UsageError(f"{where} is being claimed by another artengine command; give a new folder") from None
        return
    except OSError as error:
        raise UsageError(f"{where}: cannot write there: {error.strerror or error}") from None
    try:
        os.write(fd, (json.dumps({"artengine": kind}) + "\n").encode())
    finally:
        os.close(fd)


def _write_temp(folder: Path, name: str, data: bytes | Callable[[Path], object]) -> Path:
    """`data` (bytes, or a function that writes the file at the path it is given) under a
    temporary name beside `name`, on disk (fsync) before anyone renames it into place."""
    temp = folder / f".{name}.tmp-{os.getpid()}"
    try:
        temp.unlink(missing_ok=True)  # a leftover (or planted link) of that name is not written through
        if callable(data):
            data(temp)
            with open(temp, "rb") as handle:
                os.fsync(handle.fileno())
        else:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
            with open(fd, "wb") as handle:
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
        # never through a link (a run.json that is a link to a file elsewhere is not rewritten
        # there), and without blocking on a FIFO planted in its place
        fd = os.open(path, os.O_WRONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "wb") as handle:  # "wb" on a descriptor does not truncate: no block is freed
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or len(data) > info.st_size:
                return False
            handle.write(data + b" " * (info.st_size - len(data)))  # trailing blanks: still valid JSON
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


class FolderLock:
    """An exclusive advisory lock on a folder, held until `release` (or the process ends)."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def __del__(self):
        self.release()


def lock_folder(folder: Path, where: str, busy: str, what: str = "folder") -> FolderLock:
    """Lock `folder` for this process without waiting (a run under `--resume`, an index being
    written); UsageError "WHERE: BUSY" when another process holds it. Where the platform has no
    flock, folders are unlocked."""
    try:
        import fcntl
    except ImportError:
        return FolderLock(None)
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UsageError(f"{where}: cannot open the {what}: {error.strerror or error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError(f"{where}: {busy}") from None
    return FolderLock(fd)
