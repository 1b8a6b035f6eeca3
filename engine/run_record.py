"""A run folder's run.json read back (for `--resume`) as untrusted input, and the folder's lock.

A run.json may have been edited, truncated or planted: it is read like any user file (regular,
bounded, nesting limited) and every field `--resume` uses is checked, in one line naming the
key. Image paths must stay inside the run folder, so a record cannot make artengine read or
list a file elsewhere (`/etc/passwd`, `../other-run/0000.png`).

While a process works in a run folder it holds an exclusive lock on the folder, so a second
`--resume` of the same run (or one of a run still being made) is refused instead of both
writing images into it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import UsageError, quote
from .outputs import FolderLock, lock_folder
from .safe_io import load_json, read_user_text

SEED_LIMIT = 2**32
IMAGE_FIELDS = {"path": str, "prompt": str, "seed": int, "generator": str, "configuration": str, "rank": int}


def read_run_document(run_dir: Path) -> dict[str, Any]:
    """run.json of `run_dir`, with the shape `--resume` relies on checked."""
    where = f"--resume '{run_dir}': its run.json"
    # not through a link: the record is rewritten in place on a full disk, so it must be the folder's own
    document = load_json(read_user_text(run_dir / "run.json", "--resume: run.json", follow=False), f"{where} is unreadable")
    if not isinstance(document, dict):
        raise UsageError(f"{where} is not a JSON object")
    for key, kind in (("configurations", dict), ("images", list), ("discarded", list), ("partial", list)):
        if key in document and not isinstance(document[key], kind):
            raise UsageError(f"{where}: '{key}' must be a JSON {'object' if kind is dict else 'array'}")
    for key in ("configurations", "images"):
        if key not in document:
            raise UsageError(f"{where} has no '{key}'; it is unreadable or not artengine's")
    for name, configuration in document["configurations"].items():
        if not isinstance(configuration, dict):
            raise UsageError(f"{where}: configuration {quote(name)} must be a JSON object")
    labels = document.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
        raise UsageError(f"{where}: 'labels' must map configuration names to objects")
    document.setdefault("discarded", [])
    return document


def check_image_record(data: Any, run_dir: Path) -> None:
    """Raise UsageError unless `data` is an image record whose file lies inside `run_dir`."""
    where = f"--resume '{run_dir}': its run.json"
    if not isinstance(data, dict):
        raise UsageError(f"{where}: an entry of 'images' is not a JSON object")
    for key, kind in IMAGE_FIELDS.items():
        if type(data.get(key)) is not kind:
            raise UsageError(f"{where}: images[].{key} must be a {kind.__name__}, got {quote(data.get(key))}")
    if not 0 <= data["seed"] < SEED_LIMIT:
        raise UsageError(f"{where}: images[].seed {quote(data['seed'])} is outside 0..{SEED_LIMIT - 1}")
    score = data.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise UsageError(f"{where}: images[].score must be a number or null, got {quote(score)}")
    for key in ("timings", "metadata"):
        if not isinstance(data.get(key, {}), dict):
            raise UsageError(f"{where}: images[].{key} must be a JSON object")
    inside_run_folder(data["path"], run_dir, f"{where}: images[].path")


def inside_run_folder(name: str, run_dir: Path, where: str) -> Path:
    """`run_dir / name` for a relative `name` that stays inside `run_dir`; UsageError otherwise."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if "\0" in name or not parts or PurePosixPath(name).is_absolute() or Path(name).is_absolute() or ".." in parts:
        raise UsageError(f"{where} {quote(name)} is not a file inside the run folder")
    path = run_dir / name
    real = os.path.realpath(path)
    if os.path.commonpath([real, os.path.realpath(run_dir)]) != os.path.realpath(run_dir):
        raise UsageError(f"{where} {quote(name)} leads outside the run folder")
    return path


def lock_run_dir(run_dir: Path, where: str | None = None) -> FolderLock:
    """Lock `run_dir` for this process; UsageError if another process (or run) holds it."""
    return lock_folder(run_dir, where or str(run_dir), "another artengine process is working on that run; wait for "
                       "it to end (or stop it) before resuming", what="run folder")
