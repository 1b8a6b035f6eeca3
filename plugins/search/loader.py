"""`artengine.load_model("index:PATH")`: an index, as other plugins reach it through the registry.

The web UI's gallery searches this way without importing this plugin. What the loader gives is
the index at PATH as it is when searched: `search(text, k)` after `artengine index update` sees
the new version (load_model caches the handle, not a version).
"""

from __future__ import annotations

import os
from pathlib import Path

from artengine import ModelLoader


class IndexLoader(ModelLoader):
    kind = "index"
    description = "A search index made by `artengine index build` (its images' CLIP embeddings), to search."
    spec_forms = ("index:PATH",)

    def load(self, name: str, device: str) -> "CurrentIndex":
        return CurrentIndex(Path(name).expanduser(), device)


class CurrentIndex:
    """The newest version of the index in `folder`, an `artengine.SearchIndex`: opened now (a
    missing or damaged index is a UsageError here), and again whenever its manifest has been
    replaced."""

    def __init__(self, folder: Path, device: str):
        self.folder, self.device = folder, device
        self._version: tuple[int, int] | None = None
        self._index = None
        self.current()

    def current(self):
        from . import store
        from .index import Index

        try:
            stat = os.stat(self.folder / store.MANIFEST)
            version = (stat.st_mtime_ns, stat.st_ino)
        except OSError:
            version = None  # Index.open says what is wrong
        if self._index is None or version != self._version:
            self._index, self._version = Index.open(self.folder), version
        return self._index

    def __len__(self) -> int:
        return len(self.current())

    def search(self, text: str | None = None, image=None, k: int = 20, where: str | None = None) -> list:
        """The `k` best hits (`.rank`, `.similarity`, `.path`, `.row`), as `Index.search`."""
        return self.current().search(text, image, k=k, where=where, device=self.device)
