"""`artengine index build|update` and the Index API: an index in open formats, kept up to date
by content hash, resumable, switched atomically, and refusing what it cannot use."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import artengine
import artengine.models
import artengine.plugins.clip
import artengine.plugins.search
from artengine import Interrupted, UsageError
from artengine.plugins.search import index as index_module
from artengine.plugins.search.index import EmbedSettings, Index
from tests.search_helpers import generated_png, png_claiming_size, shapes_folder, tiny_clip

SMALL = EmbedSettings(device="cpu", batch_size=4, workers=2, precision="float32")


@pytest.fixture(autouse=True)
def search_plugins(host):
    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def images(tmp_path):
    shapes_folder(tmp_path / "images", 10)
    return tmp_path / "images"


def build(images, out, model, **kwargs):
    return Index.build([images], out, model, settings=SMALL, **kwargs)


def test_an_index_is_open_files_whose_rows_match_the_images(images, tmp_path, model):
    import faiss
    import pyarrow.parquet as pq

    index, report = build(images, tmp_path / "idx", model)
    assert (report.count, report.embedded, report.skipped) == (10, 10, [])
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"]["spec"] == model and manifest["count"] == 10
    embeddings = np.load(tmp_path / "idx" / manifest["files"]["embeddings"]["name"])
    table = pq.read_table(tmp_path / "idx" / manifest["files"]["table"]["name"])
    vectors = faiss.read_index(str(tmp_path / "idx" / manifest["files"]["faiss"]["name"]))
    assert embeddings.dtype == np.float16 and embeddings.shape == (10, 16) and vectors.ntotal == 10
    assert np.allclose(np.linalg.norm(embeddings.astype(np.float32), axis=1), 1, atol=1e-2)
    rows = table.to_pylist()
    assert [Path(r["path"]).name for r in rows] == [f"{i:05d}.png" for i in range(10)]
    first = rows[0]
    assert first["size"] == (images / "00000.png").stat().st_size and (first["width"], first["height"]) == (64, 64)
    assert first["caption"] == (images / "00000.txt").read_text().strip() and len(first["hash"]) == 64


def test_each_image_finds_itself_first(images, tmp_path):
    index, _ = build(images, tmp_path / "idx", "clip:shapes")  # a trained model tells the images apart
    for path in sorted(images.glob("*.png"))[:3]:
        hits = index.search(image=path, k=3)
        assert hits[0].path == str(path.resolve()) and hits[0].similarity == pytest.approx(1, abs=1e-2)
        assert [hit.rank for hit in hits] == [1, 2, 3]


def test_a_prompt_with_weights_is_the_weighted_mean_of_its_parts(images, tmp_path, model):
    index, _ = build(images, tmp_path / "idx", model)
    clip = index.model("cpu")
    red, blue = clip.encode_text(["a red circle", "a blue square"]).numpy()
    assert np.allclose(index.query_vector("a red circle:2|a blue square:-1"), (2 * red - blue) / 3, atol=1e-5)
    hits = index.search("a red circle:2|a blue square:-1", k=10)
    embeddings = index.embeddings.astype(np.float32)
    best = np.argmax(embeddings @ ((2 * red - blue) / 3))
    assert hits[0].path == index.table.column("path")[best].as_py()


def test_generated_pngs_bring_their_metadata_and_filters_select_on_it(tmp_path, model):
    folder = tmp_path / "outputs"
    folder.mkdir()
    generated_png(folder / "a.png", "a red circle", 1, "dalle", 0.31, (200, 30, 30))
    generated_png(folder / "b.png", "a blue square", 2, "vqgan-clip", 0.52, (30, 30, 200))
    generated_png(folder / "c.png", "a red square", 3, "dalle", 0.12, (210, 40, 30))
    index, _ = Index.build([folder], tmp_path / "idx", model, settings=SMALL)
    row = index.table.to_pylist()[0]
    assert (row["prompt"], row["seed"], row["generator"], row["score"]) == ("a red circle", 1, "dalle", 0.31)
    found = {Path(hit.path).name for hit in index.search("a circle", k=10, where='generator = "dalle"')}
    assert found == {"a.png", "c.png"}
    found = {Path(hit.path).name for hit in index.search("a circle", k=10, where='generator = "dalle" and score > 0.2')}
    assert found == {"a.png"}
    assert index.search("a circle", where='prompt contains "purple"') == []


def test_update_embeds_only_new_and_changed_content_and_drops_deleted_files(images, tmp_path, model):
    build(images, tmp_path / "idx", model)
    (images / "00001.png").unlink()
    os.rename(images / "00002.png", images / "renamed.png")  # same content, new path: no new embedding
    shutil.copy(images / "00003.png", images / "copy.png")  # known content, one more row
    shapes_folder(tmp_path / "more", 2, seed=9)
    shutil.copy(tmp_path / "more" / "00000.png", images / "new.png")
    shutil.copy(tmp_path / "more" / "00001.png", images / "00004.png")  # changed in place
    index, report = Index.update(tmp_path / "idx", settings=SMALL)
    assert (report.count, report.embedded, report.dropped) == (11, 2, 2)
    assert report.kept == 9
    names = {Path(p).name for p in index.table.column("path").to_pylist()}
    assert "00001.png" not in names and {"renamed.png", "copy.png", "new.png"} <= names
    for name in ("new.png", "00004.png", "renamed.png"):
        assert np.allclose(stored_embedding(index, images / name), index.query_vector(image=images / name), atol=2e-3)
    assert len(list((tmp_path / "idx").glob("embeddings-*.npy"))) == 1  # the old version is gone


def test_update_takes_in_new_folders_too(images, tmp_path, model):
    build(images, tmp_path / "idx", model)
    shapes_folder(tmp_path / "more", 3, seed=4)
    index, report = Index.update(tmp_path / "idx", [tmp_path / "more"], settings=SMALL)
    assert (report.count, report.embedded, report.kept) == (13, 3, 10)
    assert str((tmp_path / "more").resolve()) in index.manifest["roots"]


def stored_embedding(index, path):
    row = index.table.column("path").to_pylist().index(str(path.resolve()))
    return index.embeddings[row].astype(np.float32)


def stop_after(calls: int):
    seen = []
    return lambda: seen.append(1) or len(seen) >= calls


def test_an_interrupted_build_leaves_no_index_and_resumes_where_it_stopped(images, tmp_path, model, monkeypatch):
    monkeypatch.setattr(index_module, "CHUNK_ROWS", 4)
    with pytest.raises(Interrupted, match="run the same command again"):
        build(images, tmp_path / "idx", model, should_stop=stop_after(1))
    assert not (tmp_path / "idx" / "manifest.json").exists()
    with pytest.raises(UsageError, match="interrupted build"):
        Index.open(tmp_path / "idx")
    index, report = build(images, tmp_path / "idx", model)
    assert (report.count, report.resumed, report.embedded) == (10, 4, 6)
    assert not (tmp_path / "idx" / ".partial").exists()
    fresh, _ = build(images, tmp_path / "fresh", model)
    assert np.array_equal(np.asarray(index.embeddings), np.asarray(fresh.embeddings))


def test_an_interrupted_update_keeps_the_previous_index_whole(images, tmp_path, model, monkeypatch):
    build(images, tmp_path / "idx", model)
    before = (tmp_path / "idx" / "manifest.json").read_text()
    shapes_folder(tmp_path / "more", 8, seed=3)
    monkeypatch.setattr(index_module, "CHUNK_ROWS", 4)
    with pytest.raises(Interrupted):
        Index.update(tmp_path / "idx", [tmp_path / "more"], settings=SMALL, should_stop=stop_after(1))
    assert (tmp_path / "idx" / "manifest.json").read_text() == before
    assert len(Index.open(tmp_path / "idx")) == 10
    _, report = Index.update(tmp_path / "idx", [tmp_path / "more"], settings=SMALL)
    assert (report.count, report.resumed, report.embedded) == (18, 4, 4)


def test_unreadable_corrupt_and_huge_images_are_listed_and_skipped(images, tmp_path, model):
    (images / "corrupt.png").write_bytes((images / "00000.png").read_bytes()[:60])
    (images / "notes.jpg").write_text("not an image")
    png_claiming_size(images / "huge.png", 20000, 20000)
    index, report = build(images, tmp_path / "idx", model)
    reasons = {Path(item["path"]).name: item["reason"] for item in report.skipped}
    assert set(reasons) == {"corrupt.png", "notes.jpg", "huge.png"} and report.count == 10
    assert "too large (" in reasons["huge.png"] and "not a readable image" in reasons["corrupt.png"]
    assert index.manifest["skipped"] == report.skipped


def test_the_index_is_searched_only_with_its_own_model(images, tmp_path, model):
    index, _ = build(images, tmp_path / "idx", model)
    with pytest.raises(UsageError, match="was built with .* not clip:shapes; search it with --model"):
        index.model("cpu", "clip:shapes")


def test_a_model_retrained_under_the_same_spec_is_caught(images, tmp_path):
    spec = tiny_clip(tmp_path / "model", seed=0)
    build(images, tmp_path / "idx", spec)
    tiny_clip(tmp_path / "model", seed=1)  # other weights in the same folder
    artengine.models.clear_cache()
    with pytest.raises(UsageError, match="different model"):
        Index.open(tmp_path / "idx").search("a red circle")


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage_manifest"])
def test_a_damaged_index_is_one_clear_error(images, tmp_path, model, damage):
    build(images, tmp_path / "idx", model)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    embeddings = tmp_path / "idx" / manifest["files"]["embeddings"]["name"]
    if damage == "truncate":
        embeddings.write_bytes(embeddings.read_bytes()[:100])
    elif damage == "delete":
        embeddings.unlink()
    else:
        (tmp_path / "idx" / "manifest.json").write_text("{")
    with pytest.raises(UsageError, match="rebuild"):
        Index.open(tmp_path / "idx")


def test_build_refuses_folders_it_would_overwrite_or_that_hold_nothing(images, tmp_path, model):
    build(images, tmp_path / "idx", model)
    with pytest.raises(UsageError, match="already holds an index; refresh it with `artengine index update"):
        build(images, tmp_path / "idx", model)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match="already holds files artengine did not write there"):
        build(images, tmp_path / "taken", model)
    assert os.listdir(tmp_path / "taken") == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images under"):
        build(tmp_path / "empty", tmp_path / "idx2", model)
    with pytest.raises(UsageError, match="does not exist"):
        build(tmp_path / "nowhere", tmp_path / "idx3", model)


def test_a_progress_reporter_that_says_stop_stops_the_build_with_its_work_kept(images, tmp_path, model):
    def reporter(step, total):  # artengine's Reporter raises StopRequested after Ctrl-C
        raise artengine.StopRequested()

    with pytest.raises(Interrupted):
        build(images, tmp_path / "idx", model, progress=reporter)
    assert list((tmp_path / "idx" / ".partial").glob("chunk-*.parquet"))
    _, report = build(images, tmp_path / "idx", model)
    assert report.resumed == 4 and report.count == 10
