"""The index folder on disk, in open formats, changed only by an atomic switch of its manifest.

    INDEX/manifest.json          format, model (spec and a probe embedding), FAISS choice, counts,
                                 skipped files, and the name and size of each data file below
    INDEX/embeddings-V.npy       N x D float16, L2-normalised (numpy .npy: readable anywhere)
    INDEX/table-V.parquet        N rows: path, hash, size, mtime, width, height, prompt, seed,
                                 generator, score, caption (row i is embedding i and FAISS id i)
    INDEX/faiss-V.index          faiss.write_index of the chosen index
    INDEX/.partial/              embeddings of a build or update not finished yet (chunks)

A new version V is written beside the current one, then manifest.json is replaced in one
os.replace: a reader sees the old index or the new, never half of one; an interrupted write
leaves the old version in place, and its leftovers are removed by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from artengine import UsageError
from artengine.files import read_own_file, replace_file

FORMAT = "artengine-index/1"
MANIFEST = "manifest.json"
PARTIAL = ".partial"
DATA_FILES = ("embeddings", "table", "faiss")
SUFFIXES = {"embeddings": ".npy", "table": ".parquet", "faiss": ".index"}


def table_schema():
    import pyarrow as pa

    return pa.schema([
        ("path", pa.string()), ("hash", pa.string()), ("size", pa.int64()), ("mtime", pa.float64()),
        ("width", pa.int32()), ("height", pa.int32()), ("prompt", pa.string()), ("seed", pa.int64()),
        ("generator", pa.string()), ("score", pa.float64()), ("caption", pa.string()),
    ])


def rebuild(folder: Path) -> str:
    """How to get a working index back: the index is made from the images, so it can go."""
    return f"rebuild it: delete '{folder}' and run `artengine index build FOLDER… --out {folder}` again"


KIND = "index"


def claim(folder: Path, create: bool = True) -> Path:
    """The index folder as this plugin's own: the previous versions' data files and partial
    chunks are deleted in it, so a folder of anything else is refused, never written into."""
    from artengine.files import claim_folder

    return claim_folder(folder, KIND, "--out" if not is_index(folder) else "index", create=create)


def lock(folder: Path):
    """Lock `folder` for this build or update; UsageError when another one holds it."""
    from artengine.files import lock_folder

    return lock_folder(folder, f"index '{folder}'", "another `artengine index build` or `index update` is writing "
                       "it; wait for that one to finish, then run this again")


def is_index(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise UsageError(f"index '{folder}' does not exist; make one with `artengine index build FOLDER --out {folder}`")
    if not path.is_file():
        hint = " (an interrupted build: run `artengine index build` again to finish it)" if (folder / PARTIAL).is_dir() else ""
        raise UsageError(f"'{folder}' is not an artengine index: it has no {MANIFEST}{hint}")
    try:  # not through a link: the index is written and cleaned where its manifest says
        manifest = json.loads(read_own_file(path, MANIFEST, root=folder))
    except (OSError, ValueError, UsageError) as error:
        raise UsageError(f"index '{folder}': cannot read {MANIFEST} ({error}); " + rebuild(folder)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"index '{folder}': {MANIFEST} is not in the {FORMAT} format; " + rebuild(folder))
    problem = manifest_problem(manifest)
    if problem:
        raise UsageError(f"index '{folder}': {MANIFEST} is damaged ({problem}); " + rebuild(folder))
    return manifest


def manifest_problem(manifest: dict) -> str | None:
    """What in a manifest the index's readers rely on is missing or of the wrong kind, or None."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "no 'files' table"
    for kind in DATA_FILES:
        entry = files.get(kind)
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or type(entry.get("bytes")) is not int:
            return f"files.{kind} must name a file and its size"
    for key, kinds in (("count", int), ("dim", int), ("roots", list), ("model", dict), ("faiss", dict)):
        if not isinstance(manifest.get(key), kinds) or isinstance(manifest.get(key), bool):
            return f"'{key}' is missing or of the wrong kind"
    if not isinstance(manifest["model"].get("spec"), str) or not isinstance(manifest["model"].get("probe"), list):
        return "model.spec or model.probe is missing"
    if not isinstance(manifest["faiss"].get("factory"), str):
        return "faiss.factory is missing"
    return None


def data_path(folder: Path, manifest: dict, kind: str) -> Path:
    """The data file of `kind`, checked against the size the manifest recorded (a truncated or
    replaced file is caught here, before a reader trips over it)."""
    entry = manifest["files"][kind]
    name = entry["name"]
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise UsageError(f"index '{folder}': {MANIFEST} names {name!r}, not a file of the index; " + rebuild(folder))
    path = folder / name
    if path.is_symlink():
        raise UsageError(f"index '{folder}': {name} is a symbolic link, which artengine does not follow in its "
                         "own folders; " + rebuild(folder))
    try:
        size = path.stat().st_size
    except OSError:
        raise UsageError(f"index '{folder}': {entry['name']} is missing; " + rebuild(folder)) from None
    if size != entry["bytes"]:
        raise UsageError(f"index '{folder}': {entry['name']} has {size} bytes, not the {entry['bytes']} written "
                         "(truncated or changed); " + rebuild(folder))
    return path


def load(folder: Path, manifest: dict):
    """(embeddings memory-mapped, pyarrow table, faiss index) of the manifest's version."""
    import faiss
    import pyarrow.parquet as pq

    try:
        embeddings = np.load(data_path(folder, manifest, "embeddings"), mmap_mode="r")
        table = pq.read_table(data_path(folder, manifest, "table"))
        vectors = faiss.read_index(str(data_path(folder, manifest, "faiss")))
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy, arrow and faiss each raise their own kinds
        raise UsageError(f"index '{folder}': a data file is damaged ({error}); " + rebuild(folder)) from None
    count = manifest["count"]
    if embeddings.shape != (count, manifest["dim"]) or table.num_rows != count or vectors.ntotal != count:
        raise UsageError(f"index '{folder}': its files disagree on the number of images; " + rebuild(folder))
    return embeddings, table, vectors


def write_version(folder: Path, embeddings: np.ndarray, table, vectors, manifest: dict) -> dict:
    """Write a new version's data files, then switch the manifest to them; returns the manifest."""
    import faiss
    import pyarrow.parquet as pq

    version = f"{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    writers = {
        "embeddings": lambda path: save_npy(path, np.ascontiguousarray(embeddings, dtype=np.float16)),
        "table": lambda path: pq.write_table(table, path),
        "faiss": lambda path: faiss.write_index(vectors, str(path)),
    }
    files = {}
    for kind in DATA_FILES:  # new names: no file the current manifest points at is touched
        name = f"{kind}-{version}{SUFFIXES[kind]}"
        replace_file(folder / name, writers[kind])
        files[kind] = {"name": name, "bytes": (folder / name).stat().st_size}
    manifest = {**manifest, "format": FORMAT, "version": version, "files": files}
    replace_file(folder / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())  # the switch
    remove_leftovers(folder, manifest)
    return manifest


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle, so that numpy adds no .npy to the name
        np.save(handle, array)


def remove_leftovers(folder: Path, manifest: dict) -> None:
    """Data files of earlier or unfinished versions, and the finished build's partial chunks."""
    current = {entry["name"] for entry in manifest["files"].values()}
    for path in folder.iterdir():
        stem = path.name.lstrip(".")
        if path.is_file() and stem.startswith(tuple(f"{kind}-" for kind in DATA_FILES)) and path.name not in current:
            path.unlink(missing_ok=True)
    shutil.rmtree(folder / PARTIAL, ignore_errors=True)


# -- partial work: chunks of embeddings made before a build or update finished ----------------


def partial_dir(folder: Path, model: dict) -> Path:
    """The folder of unfinished work for `model`; work of another model there is an error."""
    path = folder / PARTIAL
    marker = path / "model.json"
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if saved is not None and saved.get("spec") != model["spec"]:
            raise UsageError(f"index '{folder}' holds an unfinished build with {saved.get('spec')}, not {model['spec']}: "
                             f"finish it with --model {saved.get('spec')}, or delete '{path}' to start over")
    else:
        path.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"spec": model["spec"]}) + "\n", encoding="utf-8")
    return path


def write_chunk(path: Path, name: str, embeddings: np.ndarray, rows: list[dict]) -> None:
    """One chunk: embeddings (.npy) then its rows (.parquet); the rows' rename commits it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    replace_file(path / f"{name}.npy", lambda temp: save_npy(temp, embeddings.astype(np.float16)))
    replace_file(path / f"{name}.parquet", lambda temp: pq.write_table(pa.Table.from_pylist(rows, schema=table_schema()), temp))


def read_chunks(path: Path) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """(row by hash, embedding by hash) of every finished chunk; damaged chunks are ignored
    (their images are simply embedded again)."""
    import pyarrow.parquet as pq

    rows, embeddings = {}, {}
    if not path.is_dir():
        return rows, embeddings
    for table_path in sorted(path.glob("*.parquet")):
        try:
            chunk_rows = pq.read_table(table_path).to_pylist()
            chunk = np.load(table_path.with_suffix(".npy"))
        except Exception:  # noqa: BLE001 - a chunk cut short by a crash: redo its images
            continue
        if len(chunk) != len(chunk_rows):
            continue
        for row, embedding in zip(chunk_rows, chunk):
            rows[row["hash"]], embeddings[row["hash"]] = row, embedding
    return rows, embeddings
