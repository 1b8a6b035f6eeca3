"""Damaged state that artengine wrote itself is one line naming the file and what to do.

A training checkpoint's state.json edited or cut short, a checkpoint that cannot be written
(a full disk), a code cache whose files were cut short, a tar shard holding a non-image or a
caption that is not UTF-8, an index manifest missing a table: each ends in one line naming the
file and the way on (delete that checkpoint, `--resume` from the one before, rebuild), or, for
a cache artengine can simply make again, in a warning and a rebuild.
"""

from __future__ import annotations

import errno
import io
import json
import tarfile
from pathlib import Path

import pytest

import artengine.training_checkpoints as checkpoints
from tests.dalle_helpers import train as train_dalle, write_pairs

QUIET = ("--threads", 1, "--device", "cpu")


def one_line(result, code: int, *says: str) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("artengine: error: ")]  # not progress
    assert len(lines) == 1, result.stderr
    assert all(part in lines[0] for part in says) and "Traceback" not in result.output, lines[0]
    return lines[0]


def trained(cli, tmp_path: Path) -> Path:
    assert cli("train", "line", "--out", tmp_path / "run", "--steps", 4, *QUIET).exit_code == 0
    return tmp_path / "run"


def edit_state(run: Path, change) -> Path:
    state = sorted((run / "checkpoints").iterdir())[-1] / "state.json"
    facts = json.loads(state.read_text())
    written = change(facts)
    state.write_text(written if isinstance(written, str) else json.dumps(facts))
    return state


# (how state.json was damaged, the edit, what the line says besides the file's name)
STATES = [
    ("step is text", lambda f: f.update(step="4"), "'step' is '4'"),
    ("position missing", lambda f: f.pop("position"), "'position' is missing"),
    ("position negative", lambda f: f.update(position=-8), "'position' is -8"),
    ("settings a list", lambda f: f.update(settings=[1, 2]), "'settings' is [1, 2]"),
    ("a setting of the wrong type", lambda f: f["settings"].update(lr="fast"), "lr"),
    ("a setting out of range", lambda f: f["settings"].update(batch_size=0), "batch_size"),
    ("cut short", lambda f: json.dumps(f)[:40], "cannot be read"),
    ("not an object", lambda f: "[1, 2, 3]", "not a JSON object"),
    ("another trainer's", lambda f: f.update(trainer="vqgan"), "`train vqgan`"),
]


@pytest.mark.parametrize("case, change, says", STATES, ids=[row[0] for row in STATES])
def test_an_edited_training_state_is_one_line_naming_the_file(cli, tmp_path, case, change, says):
    run = trained(cli, tmp_path)
    state = edit_state(run, change)
    line = one_line(cli("train", "line", "--out", run, "--resume", "--steps", 8, *QUIET), 2, says)
    assert str(state.parent) in line and ("delete that" in line or "another --out" in line)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_says_how_to_go_on(cli, tmp_path, monkeypatch):
    original = checkpoints.save_tensors

    def full_at_step_8(value, path):
        if "step-00000008" in str(path) and path.name == "optimizer.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(value, path)

    monkeypatch.setattr(checkpoints, "save_tensors", full_at_step_8)
    run = tmp_path / "run"
    one_line(cli("train", "line", "--out", run, "--steps", 8, *QUIET), 1, "cannot write the checkpoint of step 8",
             "No space left", "--resume from step 4")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000004"]
    monkeypatch.setattr(checkpoints, "save_tensors", original)
    assert cli("train", "line", "--out", run, "--resume", "--steps", 8, *QUIET).exit_code == 0


# -- the dalle code cache and tar shards -----------------------------------------------------

@pytest.mark.parametrize("name, keep", [("meta.json", 20), ("codes.bin", 10), ("captions.jsonl", 5)])
def test_a_code_cache_cut_short_is_rebuilt_with_a_warning(dalle_host, cli, tmp_path, name, keep):
    data = write_pairs(tmp_path / "pairs", count=4)
    assert train_dalle(cli, "--data", data, "--out", "a", "--cache", "codes", "--steps", 1).exit_code == 0
    damaged = tmp_path / "codes" / name
    damaged.write_bytes(damaged.read_bytes()[:keep])
    result = train_dalle(cli, "--data", data, "--out", "b", "--cache", "codes", "--steps", 1)
    assert result.exit_code == 0, result.output
    assert "the code cache 'codes' is damaged" in result.stderr and "rebuilding it" in result.stderr
    assert json.loads((tmp_path / "codes" / "meta.json").read_text())["images"] == 4


def shard_with(path: Path, pairs: Path, image: bytes | None = None, caption: bytes | None = None) -> Path:
    with tarfile.open(path, "w") as shard:
        for name in ("000", "001"):
            shard.add(pairs / f"{name}.png", arcname=f"s{name}.png")
            shard.add(pairs / f"{name}.txt", arcname=f"s{name}.txt")
        for suffix, data in ((".png", image or (pairs / "002.png").read_bytes()),
                             (".txt", caption or (pairs / "002.txt").read_bytes())):
            member = tarfile.TarInfo(f"bad{suffix}")
            member.size = len(data)
            shard.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize("image, caption, says", [
    (b"this is not a picture", None, "its image is not a readable image"),
    ((b"\x89PNG\r\n\x1a\n" + b"\0" * 40), None, "its image is not a readable image"),
    (None, b"caf\xe9 au lait", "its caption is not UTF-8 text"),
], ids=["text as .png", "a PNG cut short", "a Latin-1 caption"])
def test_a_bad_sample_in_a_tar_shard_is_one_line_naming_shard_and_sample(dalle_host, cli, tmp_path, image, caption, says):
    pairs = write_pairs(tmp_path / "pairs", count=3)
    shard = shard_with(tmp_path / "shard.tar", pairs, image, caption)
    line = one_line(train_dalle(cli, "--data", shard, "--out", "model", "--steps", 1), 2, says)
    assert f"shard '{shard}'" in line and "sample '/bad'" in line and "remove the sample" in line


# -- an index manifest -----------------------------------------------------------------------

@pytest.mark.parametrize("change, says", [
    (lambda m: m.pop("files"), "no 'files' table"),
    (lambda m: m["files"]["table"].pop("bytes"), "files.table must name a file"),
    (lambda m: m.update(count="6"), "'count' is missing or of the wrong kind"),
    (lambda m: m["model"].pop("probe"), "model.probe"),
    (lambda m: m.pop("faiss"), "'faiss'"),
])
def test_a_damaged_index_manifest_is_one_line_saying_rebuild(cli, host, tmp_path, change, says):
    import artengine.plugins.clip
    import artengine.plugins.search
    from tests.search_helpers import shapes_folder, tiny_clip

    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")
    model = tiny_clip(tmp_path / "tiny")
    shapes_folder(tmp_path / "pics", 2)
    assert cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu").exit_code == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    change(manifest)
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps(manifest))
    for args in (("search", tmp_path / "idx", "a circle"), ("index", "update", tmp_path / "idx")):
        one_line(cli(*args, "--device", "cpu"), 2, "manifest.json is damaged", says, "rebuild it")
