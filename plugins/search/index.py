"""`Index`: a collection's CLIP embeddings with their files' table and a FAISS index.

    index, report = Index.build(["outputs", "shapes"], "my.index", model="clip:shapes")
    index, report = Index.update("my.index")            # new, changed and deleted files
    index = Index.open("my.index")
    hits = index.search("a red circle|a blue square:-0.5", k=20, where='generator = "dalle"')
    hits = index.search(image="query.png", k=10)

Building and updating are one job: the files under the roots are listed; a file whose path,
size and mtime are unchanged keeps its row without being read; any other file is hashed, and
only content never embedded before (by sha256) goes through the model. Embeddings made so far
are saved in chunks as the job goes, so an interrupted job resumes where it stopped; the new
version of the index replaces the old in one atomic switch (store.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

import artengine
import artengine.files
from artengine import Interrupted, UsageError
from artengine.devices import Shard, current_shard

from . import store, vectors
from .files import FileEntry, find_images, shape_problem

PROBE_TEXT = "a photo"
"""Embedded with the model when an index is made and when it is queried: the two must agree,
so an index is never searched with a different model that happens to share its spec."""
CHUNK_ROWS = 4096
CHUNK_SECONDS = 60.0


@dataclass
class Hit:
    rank: int
    similarity: float  # the query's inner product with the image (cosine for one part)
    path: str
    row: dict[str, Any]  # the table's columns for this image (its `score` is the generator's)

    def as_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "similarity": round(self.similarity, 6), **self.row}


@dataclass
class Report:
    """What a build or update did."""

    index: str
    count: int = 0
    embedded: int = 0  # images run through the model now
    resumed: int = 0  # embeddings taken from an interrupted earlier run
    kept: int = 0  # rows kept from the previous version (same content)
    dropped: int = 0  # rows of files that are gone
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    faiss: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EmbedSettings:
    """How images are embedded: the model and its running (never stored in the index)."""

    device: str = "auto"
    batch_size: int = 64
    workers: int | None = None
    precision: str = "auto"


class Index:
    def __init__(self, folder: Path, manifest: dict, embeddings: np.ndarray, table, faiss_index):
        self.folder, self.manifest = folder, manifest
        self.embeddings, self.table, self.faiss_index = embeddings, table, faiss_index
        self._model = None

    def __len__(self) -> int:
        return self.manifest["count"]

    def __repr__(self) -> str:
        return f"Index({str(self.folder)!r}, {len(self)} images, model={self.model_spec!r})"

    @property
    def model_spec(self) -> str:
        return self.manifest["model"]["spec"]

    # -- making and changing ------------------------------------------------------------------

    @classmethod
    def open(cls, folder: str | Path) -> "Index":
        folder = Path(folder).expanduser()
        manifest = store.read_manifest(folder)
        return cls(folder, manifest, *store.load(folder, manifest))

    @classmethod
    def build(cls, roots: list[str | Path], folder: str | Path, model: str = "clip:shapes",
              settings: EmbedSettings | None = None, progress: Callable | None = None,
              should_stop: Callable[[], bool] | None = None) -> tuple["Index", Report]:
        """Index the images under `roots` into the new folder `folder`, or finish an interrupted
        build there. A folder that already holds an index, or anything else, is refused."""
        folder = Path(folder).expanduser()
        if store.is_index(folder):
            raise UsageError(f"'{folder}' already holds an index; refresh it with `artengine index update {folder}`")
        store.claim(folder, create=False)  # a folder of anything else is refused before any work
        if not roots:
            raise UsageError("give at least one folder of images to index")
        for root in roots:
            if not Path(root).expanduser().exists():
                raise UsageError(f"folder '{root}' does not exist")
        return cls._make(folder, [str(Path(r).expanduser().resolve()) for r in roots], model, None,
                         settings or EmbedSettings(), progress, should_stop)

    @classmethod
    def update(cls, folder: str | Path, roots: list[str | Path] | None = None, settings: EmbedSettings | None = None,
               progress: Callable | None = None, should_stop: Callable[[], bool] | None = None) -> tuple["Index", Report]:
        """Bring the index in line with its folders (and `roots`, added to them): embed new or
        changed files, drop deleted ones."""
        previous = cls.open(folder)
        all_roots = list(dict.fromkeys([*previous.manifest["roots"], *(str(Path(r).expanduser().resolve()) for r in roots or ())]))
        return cls._make(previous.folder, all_roots, previous.model_spec, previous, settings or EmbedSettings(),
                         progress, should_stop)

    @classmethod
    def _make(cls, folder, roots, spec, previous, settings, progress, should_stop):
        from .shards import embed_shard, merge_shards

        started = time.monotonic()
        missing = [root for root in roots if not Path(root).exists()]
        if missing and previous is None:
            raise UsageError(f"folder '{missing[0]}' does not exist")
        for root in missing:
            artengine.warn(f"folder '{root}' no longer exists; its images leave the index")
        entries = find_images([root for root in roots if Path(root).exists()], exclude=folder)
        if not entries and previous is None:
            raise UsageError(f"no images under {', '.join(repr(r) for r in roots)} "
                             "(looked for .png, .jpg, .jpeg, .webp, .bmp, .gif, .tif, .tiff)")
        # under torchrun or accelerate launch: each process embeds every N-th file, rank 0 merges
        shard = current_shard()  # first: on GPUs it gives each process its own
        rank, world_size = (shard.rank, shard.size) if shard else (0, 1)
        barrier = shard.barrier if shard else lambda: None
        model = load_model(spec, settings.device)
        identity = {"spec": spec, "probe": probe(model)}
        if previous is not None:
            check_probe(previous.manifest, identity, previous.folder)
        lock = None
        if rank == 0:
            store.claim(folder)
            lock = store.lock(folder)  # a second build or update of this index is told so, not failed midway
            store.partial_dir(folder, identity)
        try:
            barrier()
            partial = store.partial_dir(folder, identity)
            report = Report(str(folder))

            # What is known already: rows of the previous version (by path and by hash), and
            # embeddings an interrupted run saved in chunks (by hash).
            old_rows = previous.table.to_pylist() if previous is not None else []
            old_by_path = {row["path"]: i for i, row in enumerate(old_rows)}
            old_by_hash = {row["hash"]: i for i, row in enumerate(old_rows)}
            resumed = set(store.read_chunks(partial)[0])
            barrier()  # every rank has seen the earlier chunks before any writes new ones
            unchanged = {entry.path: old_by_path[entry.path] for entry in entries
                         if entry.path in old_by_path and same_file(old_rows[old_by_path[entry.path]], entry)}
            to_read = [entry for entry in entries if entry.path not in unchanged]
            try:
                embed_shard(to_read, rank, world_size, model, settings, partial, set(old_by_hash) | resumed, progress,
                            should_stop, CHUNK_ROWS, CHUNK_SECONDS)
            except Interrupted as stop:
                (shard or Shard(0, 1)).reraise(stop)  # rank 0 alone says what is kept
            barrier()  # every shard is written
            if rank != 0:
                return None, None  # rank 0 writes the index
            shards, chunk_rows, chunk_embeddings = merge_shards(partial, world_size)

            rows, embedding_rows = assemble(entries, unchanged, previous, old_rows, old_by_hash, shards.hashes,
                                            chunk_rows, chunk_embeddings, resumed, report)
            skipped = shards.skipped
            report.count = len(rows)
            report.dropped = len(set(old_by_path) - {row["path"] for row in rows})
            report.skipped = skipped
            report.faiss = write_index(folder, identity, roots, previous, rows, embedding_rows, skipped)
            report.seconds = round(time.monotonic() - started, 3)
            index = cls.open(folder)
            index._model = model
            return index, report
        finally:
            if lock is not None:
                lock.release()

    # -- searching -------------------------------------------------------------------------------

    def model(self, device: str = "auto", spec: str | None = None):
        """The index's model, loaded once; `spec`, when given, must be the index's own."""
        if spec is not None and spec != self.model_spec:
            raise UsageError(f"index '{self.folder}' was built with {self.model_spec}, not {spec}; "
                             f"search it with --model {self.model_spec}, or build another index with {spec}")
        if self._model is None:
            model = load_model(self.model_spec, device)
            check_probe(self.manifest, {"spec": self.model_spec, "probe": probe(model)}, self.folder)
            self._model = model
        return self._model

    def query_vector(self, text: str | None = None, image=None, device: str = "auto") -> np.ndarray:
        """The query as one D vector: the prompt's parts weighted (negatives subtract), plus the
        image's embedding, over the sum of |weights|; its inner product with an image is then
        the `clip` scorer's score (cosine for a single part)."""
        from .embed import ImageEncoder

        model = self.model(device)
        parts, weights = [], []
        if text:
            prompt = artengine.parse_prompt(text, "search text")
            parts.append(model.encode_text([part.text for part in prompt.parts]).cpu().numpy())
            weights += [part.weight for part in prompt.parts]
        if image is not None:
            picture = artengine.files.read_image(image, "--image") if isinstance(image, (str, Path)) else image
            problem = shape_problem(*picture.size)
            if problem:
                raise UsageError(f"--image {image if isinstance(image, (str, Path)) else 'given'} is {problem}")
            parts.append(ImageEncoder(model, precision="float32").encode_images([picture]))
            weights.append(1.0)
        if not parts:
            raise UsageError("search: give a text, an --image, or both")
        weights = np.asarray(weights, np.float32)
        return (weights @ np.concatenate(parts)) / np.abs(weights).sum()

    def search(self, text: str | None = None, image=None, k: int = 20, where: str | None = None,
               device: str = "auto", nprobe: int | None = None) -> list[Hit]:
        """The k images that best match the text and/or image, best first, among the rows the
        `where` filter selects (all by default)."""
        from .where import mask

        query = self.query_vector(text, image, device).astype(np.float32)
        if len(self) == 0:
            return []
        if where:
            candidates = np.flatnonzero(mask(where, self.table))
        elif self.manifest["faiss"]["factory"] == vectors.EXACT:
            candidates = None
        else:
            vectors.set_nprobe(self.faiss_index, nprobe or self.manifest["faiss"].get("nprobe", 8))
            _, ids = vectors.search(self.faiss_index, query[None], k)
            candidates = ids[0][ids[0] >= 0]
        if candidates is None:
            scores, ids = vectors.search(self.faiss_index, query[None], min(k, len(self)))
            found = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
        else:
            scores = exact_scores(self.embeddings, candidates, query)
            order = np.argsort(-scores, kind="stable")[:k]
            found = [(float(scores[j]), int(candidates[j])) for j in order]
        rows = self.table.take([i for _, i in found]).to_pylist() if found else []
        return [Hit(rank, score, row["path"], row) for rank, ((score, _), row) in enumerate(zip(found, rows), 1)]


def assemble(entries, unchanged, previous, old_rows, old_by_hash, hashes, chunk_rows, chunk_embeddings, resumed, report):
    """The new version's rows and embeddings, in the entries' order, each from where it is known:
    the previous version (same file, or same content elsewhere) or the chunks (made now or by an
    interrupted run); counts go to `report`. Files that were skipped have no hash and no row."""
    rows, embeddings = [], []
    for entry in entries:
        if entry.path in unchanged:
            i = unchanged[entry.path]
            rows.append(old_rows[i])
            embeddings.append(previous.embeddings[i])
            report.kept += 1
            continue
        content = hashes.get(entry.path)
        if content is None:
            continue
        if content in chunk_rows:
            source_row, embedding = chunk_rows[content], chunk_embeddings[content]
            if content in resumed:
                report.resumed += 1
            else:
                report.embedded += 1
        else:
            i = old_by_hash[content]
            source_row, embedding = old_rows[i], previous.embeddings[i]
            report.kept += 1
        rows.append({**source_row, "path": entry.path, "hash": content, "size": entry.size, "mtime": entry.mtime})
        embeddings.append(embedding)
    return rows, embeddings


def exact_scores(embeddings: np.ndarray, rows: np.ndarray, query: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    """Inner products of the chosen rows of (memory-mapped, float16) embeddings with the query."""
    out = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        out[start:start + len(part)] = embeddings[part].astype(np.float32) @ query
    return out


def same_file(row: dict, entry: FileEntry) -> bool:
    return row["size"] == entry.size and row["mtime"] == entry.mtime


def write_index(folder: Path, identity: dict, roots: list[str], previous: Index | None, rows: list[dict],
                embedding_rows: list[np.ndarray], skipped: list[dict]) -> str:
    """Write the new version of the index (embeddings, table, FAISS index, manifest); returns
    the FAISS factory string chosen for its size."""
    import pyarrow as pa

    dim = len(identity["probe"])
    embeddings = np.stack(embedding_rows).astype(np.float16) if embedding_rows else np.zeros((0, dim), np.float16)
    choice = vectors.choose(len(embeddings), dim)
    faiss_index = vectors.build(embeddings, choice)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest = {
        "model": identity, "dim": dim, "count": len(rows), "roots": roots,
        "faiss": {"factory": choice.factory, "nprobe": choice.nprobe, "metric": "inner_product"},
        "skipped": skipped, "artengine": artengine.__version__,
        "created": previous.manifest.get("created", now) if previous is not None else now, "updated": now,
    }
    store.write_version(folder, embeddings, pa.Table.from_pylist(rows, schema=store.table_schema()), faiss_index, manifest)
    return choice.factory


def load_model(spec: str, device: str):
    from artengine.devices import resolve_device

    if not spec.startswith("clip:"):
        raise UsageError(f"--model {spec}: search and classify need a clip: model (e.g. clip:shapes)")
    return artengine.load_model(spec, resolve_device(device), artengine.TextImageEncoder, "--model")


def probe(model) -> list[float]:
    return [round(float(x), 5) for x in model.encode_text([PROBE_TEXT])[0].cpu()]


def check_probe(manifest: dict, identity: dict, folder: Path) -> None:
    saved = np.asarray(manifest["model"]["probe"], np.float32)
    now = np.asarray(identity["probe"], np.float32)
    if saved.shape != now.shape or float(saved @ now) < 0.99:
        raise UsageError(f"index '{folder}' was built with a different model than the one {identity['spec']} "
                         "loads now (its embeddings would not compare); " + store.rebuild(folder))
