"""The run folders under --out, newest first, searchable by prompt text; and safe file paths."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any


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


def runs(root: Path, query: str = "") -> list[dict[str, Any]]:
    """Every run folder under `root`, newest first; `query` keeps those whose prompts hold every word."""
    words = query.lower().split()
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        document = read_run(folder) if folder.is_dir() and not folder.is_symlink() else None
        if document is None:
            continue
        prompts = prompts_of(document)
        if words and not all(any(w in p.lower() for p in prompts) for w in words):
            continue
        images = [i for i in document.get("images", []) if isinstance(i, dict) and isinstance(i.get("path"), str)]
        found.append({
            "name": folder.name, "kind": document.get("kind"), "status": document.get("status"),
            "started": str(document.get("started", "")), "prompts": prompts, "generators": generators_of(document),
            "images": len(images),
            "thumb": f"/files/{folder.name}/{images[0]['path']}" if images else None,
        })
    return sorted(found, key=lambda r: (r["started"], r["name"]), reverse=True)


def run_details(root: Path, name: str) -> dict[str, Any] | None:
    folder = root / name
    if "/" in name or name in ("", ".", "..") or not folder.is_dir() or folder.is_symlink():
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
