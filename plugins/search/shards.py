"""The seam between embedding and indexing: one shard of the files in, chunk files out.

`embed_shard(entries, rank, world_size, ...)` embeds the files entries[rank::world_size] and
leaves everything it learned in the index's partial folder: chunks of embeddings with their
rows, and a shard record (every file's content hash, and the files skipped with why).
`merge_shards` reads them all back. A single process is rank 0 of 1; under `torchrun` each
rank embeds its own shard and rank 0 merges, so the index is the same either way, and an
interrupted job (any rank) resumes from the chunks already written.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from artengine import Interrupted, StopRequested
from artengine.files import replace_file

from . import store


@dataclass
class ShardResult:
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256, files read and usable
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}


def embed_shard(entries, rank: int, world_size: int, model, settings, partial: Path, known: set[str],
                progress: Callable | None = None, should_stop: Callable[[], bool] | None = None,
                chunk_rows: int = 4096, chunk_seconds: float = 60.0) -> Path:
    """Embed this rank's shard of `entries` (those whose hash is in `known` are only hashed) and
    write its chunks and shard record into `partial`; returns the record's path."""
    from .embed import ImageEncoder

    shard = entries[rank::world_size]
    encoder = ImageEncoder(model, settings.batch_size, settings.workers, settings.precision)
    result = ShardResult()
    rows: list[dict] = []
    embeddings: list[np.ndarray] = []
    written, last_flush, done = 0, time.monotonic(), 0
    stamp = f"{time.time_ns()}-{os.getpid()}-r{rank}"  # unique per run, so no chunk is ever replaced

    def flush():
        nonlocal rows, embeddings, written, last_flush
        if rows:
            store.write_chunk(partial, f"chunk-{stamp}-{written:05d}", np.concatenate(embeddings), rows)
            written += 1
        rows, embeddings, last_flush = [], [], time.monotonic()

    for batch, batch_embeddings in encoder.embed_files(shard, known):
        embedded = [read for read in batch if read.embedded]
        for read in batch:
            if read.error is not None:
                result.skipped.append({"path": read.entry.path, "reason": read.error})
            else:
                result.hashes[read.entry.path] = read.hash
        for read in embedded:
            rows.append({"path": read.entry.path, "hash": read.hash, "size": read.entry.size, "mtime": read.entry.mtime,
                         "width": read.width, "height": read.height, **read.metadata})
        if embedded:
            embeddings.append(batch_embeddings)
        done += len(batch)
        stopping = should_stop is not None and should_stop()
        try:
            if progress is not None:
                progress(done, len(shard))
        except StopRequested:  # artengine's progress reporter says stop by raising
            stopping = True
        if stopping or len(rows) >= chunk_rows or time.monotonic() - last_flush >= chunk_seconds:
            flush()
        if stopping:
            raise Interrupted(f"indexing stopped; the {sum(1 for _ in partial.glob('*.parquet'))} chunk(s) of embeddings made "
                              f"so far are kept in '{partial}': run the same command again to go on from there")
    flush()
    record = partial / f"shard-{rank}-of-{world_size}.json"
    replace_file(record, json.dumps({"hashes": result.hashes, "skipped": result.skipped}).encode())
    return record


def merge_shards(partial: Path, world_size: int) -> tuple[ShardResult, dict[str, dict], dict[str, np.ndarray]]:
    """The shard records of all ranks merged, with every chunk's rows and embeddings by hash."""
    merged = ShardResult()
    for rank in range(world_size):
        record = json.loads((partial / f"shard-{rank}-of-{world_size}.json").read_text(encoding="utf-8"))
        merged.hashes.update(record["hashes"])
        merged.skipped += record["skipped"]
    merged.skipped.sort(key=lambda item: item["path"])
    rows, embeddings = store.read_chunks(partial)
    return merged, rows, embeddings
