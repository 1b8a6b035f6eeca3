"""The FAISS index over an index's embeddings, chosen by collection size as autofaiss does.

    up to 100,000 vectors     SQfp16        exact: every vector scanned, kept as float16, the
                                            very values the index stores (half a Flat
                                            index's memory and memory traffic)
    up to 5,000,000           IVF{k},SQ8    k ~ 2 sqrt(N) inverted lists, vectors as 8-bit
                                            scalars (D bytes each); `nprobe` lists scanned
    more                      IVF{k}_HNSW32,PQ{D/8}   k ~ 16 sqrt(N) lists found through an
                                            HNSW graph, vectors as D/8-byte PQ codes

Inner product throughout: embeddings are L2-normalised, so it is cosine similarity. Hits of an
approximate index are re-scored exactly from the stored float16 embeddings by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EXACT = "SQfp16"
EXACT_UP_TO = 100_000
SQ8_UP_TO = 5_000_000
TRAIN_PER_LIST = 64  # training vectors per inverted list (FAISS asks for at least 39)


@dataclass(frozen=True)
class Choice:
    factory: str  # a faiss.index_factory string
    nprobe: int | None  # inverted lists scanned per query (IVF only)


def choose(count: int, dim: int) -> Choice:
    if count <= EXACT_UP_TO:
        return Choice(EXACT, None)
    if count <= SQ8_UP_TO:
        lists = power_of_two(2 * math.sqrt(count))  # quick to train on a few cores
        return Choice(f"IVF{lists},SQ8", max(1, lists // 64))
    lists = power_of_two(16 * math.sqrt(count))
    return Choice(f"IVF{lists}_HNSW32,PQ{max(1, dim // 8)}", max(1, lists // 256))


def power_of_two(value: float) -> int:
    return 2 ** max(4, round(math.log2(value)))


def build(embeddings: np.ndarray, choice: Choice, seed: int = 0):
    """A trained FAISS index holding `embeddings` (N x D, any float dtype), ids 0..N-1."""
    import faiss

    dim = embeddings.shape[1]
    index = faiss.index_factory(dim, choice.factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        ivf = faiss.try_extract_index_ivf(index)
        rng = np.random.default_rng(seed)
        sample = min(len(embeddings), (ivf.nlist if ivf is not None else 1) * TRAIN_PER_LIST)
        rows = np.sort(rng.choice(len(embeddings), sample, replace=False))
        index.train(np.ascontiguousarray(embeddings[rows], dtype=np.float32))
    for start in range(0, len(embeddings), 262_144):  # float32 copies one slice at a time
        index.add(np.ascontiguousarray(embeddings[start:start + 262_144], dtype=np.float32))
    if choice.nprobe:
        faiss.extract_index_ivf(index).nprobe = choice.nprobe
    return index


def set_nprobe(index, nprobe: int | None) -> None:
    if nprobe:
        import faiss

        faiss.extract_index_ivf(index).nprobe = nprobe


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each Q x k; ids are -1 where fewer than k were found."""
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
