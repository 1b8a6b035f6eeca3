"""The FAISS index is chosen by collection size, as autofaiss does, and queries go through it."""

import numpy as np
import pytest

from artengine.plugins.search import vectors


@pytest.mark.parametrize("count, factory, nprobe", [
    (10, "SQfp16", None),
    (100_000, "SQfp16", None),
    (1_000_000, "IVF2048,SQ8", 32),
    (5_000_000, "IVF4096,SQ8", 64),
    (100_000_000, "IVF131072_HNSW32,PQ64", 512),
])
def test_the_index_type_follows_the_collection_size(count, factory, nprobe):
    assert vectors.choose(count, 512) == vectors.Choice(factory, nprobe)


def clustered(count, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, dim))
    points = centres[rng.integers(0, 64, count)] + 0.3 * rng.standard_normal((count, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_an_approximate_index_finds_what_the_exact_one_finds():
    data = clustered(4000, 32, 0)
    exact = vectors.build(data, vectors.Choice("SQfp16", None))
    approximate = vectors.build(data, vectors.Choice("IVF32,SQ8", 16))
    queries = clustered(50, 32, 1)
    _, truth = vectors.search(exact, queries, 10)
    _, found = vectors.search(approximate, queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.9
    assert vectors.search(exact, data[:5], 1)[1][:, 0].tolist() == [0, 1, 2, 3, 4]
