"""The run folders under --out, newest first; searched by CLIP through the search index when
one exists, else by prompt text; and safe file paths."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from artengine import UsageError, load_model, resolve_device

HITS = 200
"""Images a CLIP search asks the index for; their runs are shown, best first."""


def safe_path(root: Path, relative: str) -> Path | None:
    """`root/relative` when that is a file inside `root` (after following links), else None.

    `root` is resolved. Refuses absolute paths, '..' parts, backslashes and links that lead out.
    """
    if not relative or "\\" in relative or "\0" in relative:
        return None
    parts = PurePosixPath(relative)
    if parts.is_absolute() or any(part in ("..", ".") for part in parts.parts) or relative.startswith("/"):
        return None
    try:
        path = (root / parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def run_folder(root: Path, name: str) -> Path | None:
    """`root/name` when `name` is one folder name (not '..', not too long) and that is a folder,
    not a link; else None."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0") or len(name.encode("utf-8", "replace")) > 255:
        return None
    folder = root / name
    try:
        return folder if folder.is_dir() and not folder.is_symlink() else None
    except OSError:
        return None


def read_run(folder: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def prompts_of(document: dict[str, Any]) -> list[str]:
    texts = [p for c in (document.get("configurations") or {}).values() if isinstance(c, dict)
             for p in c.get("prompts", []) if isinstance(p, str)]
    texts += [i.get("prompt") for i in document.get("images", []) if isinstance(i, dict) and isinstance(i.get("prompt"), str)]
    return list(dict.fromkeys(texts))


def generators_of(document: dict[str, Any]) -> list[str]:
    names = [(c.get("generator") or {}).get("name") for c in (document.get("configurations") or {}).values()
             if isinstance(c, dict) and isinstance(c.get("generator"), dict)]
    return list(dict.fromkeys(n for n in names if isinstance(n, str)))


def card(folder: Path, document: dict[str, Any]) -> dict[str, Any]:
    """What the gallery shows of one run."""
    images = [i for i in document.get("images", []) if isinstance(i, dict) and isinstance(i.get("path"), str)]
    return {
        "name": folder.name, "kind": document.get("kind"), "status": document.get("status"),
        "started": str(document.get("started", "")), "prompts": prompts_of(document),
        "generators": generators_of(document), "images": len(images),
        "thumb": f"/files/{folder.name}/{images[0]['path']}" if images else None,
    }


def all_runs(root: Path):
    for folder in root.iterdir() if root.is_dir() else ():
        document = read_run(folder) if folder.is_dir() and not folder.is_symlink() else None
        if document is not None:
            yield folder, document


def runs(root: Path, query: str = "") -> list[dict[str, Any]]:
    """Every run folder under `root`, newest first; `query` keeps those whose prompts hold every word."""
    words = query.lower().split()
    found = [card(folder, document) for folder, document in all_runs(root)]
    found = [r for r in found if all(any(w in p.lower() for p in r["prompts"]) for w in words)]
    return sorted(found, key=lambda r: (r["started"], r["name"]), reverse=True)


def search(root: Path, query: str, index: Path | None) -> dict[str, Any]:
    """The gallery for `query`: by CLIP similarity through the search index at `index` when there
    is one (`artengine index build OUT` makes it), else by prompt text; `search` says which, and
    why not CLIP."""
    if not query.strip():
        return {"runs": runs(root), "search": None}
    if index is None or not index.is_dir():
        note = f"no search index at '{index}'; `artengine index build` makes one" if index else "no search index"
        return {"runs": runs(root, query), "search": {"by": "prompt", "note": note}}
    try:
        hits = load_model(f"index:{index}", resolve_device("auto")).search(query, k=HITS)
    except UsageError as error:  # no search plugin, a damaged index, a query it cannot read
        return {"runs": runs(root, query), "search": {"by": "prompt", "note": f"artengine: error: {error}"}}
    return {"runs": runs_of_hits(root, hits), "search": {"by": "clip", "index": str(index), "hits": len(hits)}}


def runs_of_hits(root: Path, hits) -> list[dict[str, Any]]:
    """The runs holding the hits' images, by their best hit (shown as their thumbnail)."""
    found: dict[str, dict[str, Any]] = {}
    for hit in hits:
        try:
            relative = Path(hit.path).resolve().relative_to(root)
        except (OSError, ValueError):
            continue  # an image the index holds from elsewhere
        if len(relative.parts) != 2:
            continue  # a run's images lie in its folder; previews/ and state/ hold work in progress
        name = relative.parts[0]
        if name in found or (root / name).is_symlink() or safe_path(root, relative.as_posix()) is None:
            continue
        document = read_run(root / name)
        if document is not None:
            found[name] = card(root / name, document) | {
                "thumb": f"/files/{relative.as_posix()}", "similarity": round(float(hit.similarity), 4)}
    return list(found.values())


def run_details(root: Path, name: str) -> dict[str, Any] | None:
    folder = run_folder(root, name)
    if folder is None:
        return None
    document = read_run(folder)
    if document is None:
        return None
    images = [
        {**{k: i.get(k) for k in ("prompt", "seed", "score", "rank", "configuration", "generator", "metadata")},
         "path": i["path"], "url": f"/files/{name}/{i['path']}"}
        for i in document.get("images", []) if isinstance(i, dict) and isinstance(i.get("path"), str)
    ]
    extra = {f: f"/files/{name}/{f}" for f in ("grid.png", "index.html") if (folder / f).is_file()}
    return {"name": name, "document": document, "images": images, "files": extra}
