"""Embedding in shards: each rank embeds entries[rank::world_size] into chunk files, rank 0 merges;
the index is the same as one process makes, and `torchrun` runs it on several processes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import artengine
import artengine.plugins.clip
import artengine.plugins.search
from artengine.plugins.search import store
from artengine.plugins.search.files import find_images
from artengine.plugins.search.index import EmbedSettings, Index, probe
from artengine.plugins.search.shards import embed_shard, merge_shards
from tests.search_helpers import shapes_folder, tiny_clip

SMALL = EmbedSettings(device="cpu", batch_size=2, workers=2, precision="float32")


@pytest.fixture(autouse=True)
def search_plugins(host):
    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")


def test_two_shards_merge_into_what_one_process_embeds(tmp_path):
    spec = tiny_clip(tmp_path / "model")
    shapes_folder(tmp_path / "pics", 5)
    (tmp_path / "pics" / "bad.png").write_text("no")
    model = artengine.load_model(spec, "cpu")
    entries = find_images([tmp_path / "pics"])
    merged = {}
    for world_size in (1, 2):
        partial = store.partial_dir(tmp_path / f"world{world_size}", {"spec": spec, "probe": probe(model)})
        for rank in range(world_size):
            embed_shard(entries, rank, world_size, model, SMALL, partial, set())
        merged[world_size] = merge_shards(partial, world_size)
    (one, one_rows, one_embeddings), (two, two_rows, two_embeddings) = merged[1], merged[2]
    assert one.hashes == two.hashes and len(one.hashes) == 5
    assert one.skipped == two.skipped and [os.path.basename(s["path"]) for s in two.skipped] == ["bad.png"]
    assert one_rows.keys() == two_rows.keys()
    for key in one_embeddings:
        assert np.allclose(one_embeddings[key].astype(np.float32), two_embeddings[key].astype(np.float32), atol=2e-3)


@pytest.mark.slow
def test_torchrun_builds_one_index_from_two_processes(tmp_path):
    spec = tiny_clip(tmp_path / "model")
    shapes_folder(tmp_path / "pics", 7)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
               "-m", "artengine", "index", "build", str(tmp_path / "pics"), "--model", spec,
               "--out", str(tmp_path / "idx"), "--device", "cpu", "--batch-size", "2", "--precision", "float32", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # only rank 0 reports
    assert (report["count"], report["embedded"]) == (7, 7)
    assert not (tmp_path / "idx" / ".partial").exists()  # the shards were merged and cleared
    index = Index.open(tmp_path / "idx")
    single, _ = Index.build([tmp_path / "pics"], tmp_path / "single", spec, settings=SMALL)
    assert index.table.column("path").to_pylist() == single.table.column("path").to_pylist()
    assert np.allclose(np.asarray(index.embeddings, np.float32), np.asarray(single.embeddings, np.float32), atol=2e-3)
