"""The run folders under --out, newest first; searched by CLIP through the search index when
one exists, else by prompt text; and safe file paths."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from artengine import SearchIndex, UsageError, load_model
from artengine.devices import resolve_device
from artengine.files import read_own_file, read_user_file

HITS = 200
"""Images a CLIP search asks the index for; their runs are shown, best first."""
PAGE = 48
"""Runs per gallery page; the page asks for the next one as it is scrolled to."""


@dataclass(frozen=True)
class Page:
    """Which part of the gallery to answer: `limit` runs from `offset`, of `generator`'s (all: "")."""

    offset: int = 0
    limit: int = PAGE
    generator: str = ""


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
    """The run's run.json, read without following a link (one planted there, pointing outside
    the output folder, is not served)."""
    try:
        document = json.loads(read_own_file(folder / "run.json", "run.json", root=folder.parent))
    except (UsageError, OSError, ValueError):
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


_cards: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
_cards_lock = threading.Lock()


def cached_card(folder: Path) -> dict[str, Any] | None:
    """The folder's card, read again only when its run.json changed: a gallery of thousands of
    runs reads each once, not on every page."""
    try:
        info = (folder / "run.json").stat()
    except OSError:
        return None
    stamp = (info.st_mtime_ns, info.st_size)
    with _cards_lock:
        known = _cards.get(folder)
    if known and known[0] == stamp:
        return known[1]
    document = read_run(folder)
    found = card(folder, document) if document is not None else None
    with _cards_lock:
        _cards[folder] = (stamp, found)
    return found


def runs(root: Path, query: str = "") -> list[dict[str, Any]]:
    """Every run folder under `root`, newest first; `query` keeps those whose prompts hold every word."""
    words = query.lower().split()
    folders = [f for f in (root.iterdir() if root.is_dir() else ()) if f.is_dir() and not f.is_symlink()]
    found = [c for c in map(cached_card, folders) if c is not None]
    found = [r for r in found if all(any(w in p.lower() for p in r["prompts"]) for w in words)]
    return sorted(found, key=lambda r: (r["started"], r["name"]), reverse=True)


def paged(found: list[dict[str, Any]], page: Page) -> dict[str, Any]:
    """One page of `found`, of the page's generator; with the total and every generator seen."""
    generators = sorted({g for r in found for g in r["generators"]})
    if page.generator:
        found = [r for r in found if page.generator in r["generators"]]
    end = page.offset + page.limit
    return {"runs": found[page.offset:end], "total": len(found), "next": end if end < len(found) else None,
            "generators": generators}


def search(root: Path, query: str, index: Path | None, page: Page = Page()) -> dict[str, Any]:
    """The gallery for `query`: by CLIP similarity through the search index at `index` when there
    is one (`artengine index build OUT` makes it), else by prompt text; `search` says which, and
    why not CLIP. One `page` of it."""
    if not query.strip():
        return paged(runs(root), page) | {"search": None}
    if index is None or not index.is_dir():
        note = f"no search index at '{index}'; `artengine index build` makes one" if index else "no search index"
        return paged(runs(root, query), page) | {"search": {"by": "prompt", "note": note}}
    try:
        found = load_model(f"index:{index}", resolve_device("auto"), SearchIndex, "gallery search")
        hits = found.search(query, k=HITS)
    except UsageError as error:  # no search plugin, a damaged index, a query it cannot read
        return paged(runs(root, query), page) | {"search": {"by": "prompt", "note": f"artengine: error: {error}"}}
    return paged(runs_of_hits(root, hits), page) | {"search": {"by": "clip", "index": str(index), "hits": len(hits)}}


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


def parameters_text(path: Path) -> str | None:
    """A PNG's webui-style `parameters` text (PNG Info shows it when it names no artengine
    generator); None when it has none or is no readable PNG."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(read_user_file(path, "image", 64 * 1024 * 1024))) as image:
            text = getattr(image, "text", {}).get("parameters")
    except (UsageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return text if isinstance(text, str) else None
