"""Symbolic links never carry artengine's reads or writes out of its own folders.

A run folder, a training run, an index hold files artengine reads back and rewrites in place
(run.json on a full disk), replaces and deletes. A link planted in one (to a file or folder the
user keeps elsewhere) is refused in one line, never followed: files there are opened with
O_NOFOLLOW, and a folder taken up again (`--resume`, a claimed folder) may hold no link that
leads outside it. Each case checks the file outside is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import artengine.outputs
from artengine import ArtengineError, UsageError
from artengine.files import read_own_file
from artengine.outputs import write_json, write_new

PRECIOUS = "the user's own file\n"


def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text(PRECIOUS)
    return folder


def interrupted_run(cli, tmp_path: Path) -> Path:
    (tmp_path / "two.txt").write_text("red\nblue\n")
    result = cli("generate", "-g", "solid", "--prompts", tmp_path / "two.txt", "--seed", "1", "--json")
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    document = json.loads((run_dir / "run.json").read_text())
    document.update(status="interrupted", images=document["images"][:1])
    (run_dir / "run.json").write_text(json.dumps(document))
    for extra in sorted(run_dir.glob("0001-*")):
        extra.unlink()
    return run_dir


def trained_line(cli, tmp_path: Path) -> Path:
    assert cli("train", "line", "--out", tmp_path / "run", "--steps", 4, "--threads", 1, "--device", "cpu").exit_code == 0
    return tmp_path / "run"


def link_file(path: Path, elsewhere: Path) -> None:
    """Move `path` out to `elsewhere` and leave a link to it in its place."""
    target = elsewhere / path.name
    shutil.move(path, target)
    path.symlink_to(target)


def link_folder(path: Path, elsewhere: Path) -> None:
    target = elsewhere / path.name
    if path.exists():
        shutil.move(path, target)
    else:
        target.mkdir()
    path.symlink_to(target, target_is_directory=True)


# (case, make the folder and plant the link -> the command's arguments)
CASES = [
    ("generate --resume: run.json is a link",
     lambda cli, tmp, away: (link_file((run := interrupted_run(cli, tmp)) / "run.json", away),
                             ("generate", "--resume", run))[1]),
    ("generate --resume: state/ is a link",
     lambda cli, tmp, away: (link_folder((run := interrupted_run(cli, tmp)) / "state", away),
                             ("generate", "--resume", run))[1]),
    ("generate --resume: previews/ is a link",
     lambda cli, tmp, away: (link_folder((run := interrupted_run(cli, tmp)) / "previews", away),
                             ("generate", "--resume", run))[1]),
    ("train --resume: a checkpoint's state.json is a link",
     lambda cli, tmp, away: (link_file(sorted(((run := trained_line(cli, tmp)) / "checkpoints").iterdir())[-1]
                                       / "state.json", away),
                             ("train", "line", "--out", run, "--resume", "--steps", 8, "--device", "cpu"))[1]),
    ("train --resume: checkpoints/ is a link",
     lambda cli, tmp, away: (link_folder((run := trained_line(cli, tmp)) / "checkpoints", away),
                             ("train", "line", "--out", run, "--resume", "--steps", 8, "--device", "cpu"))[1]),
    ("train: a file of the run is a link",
     lambda cli, tmp, away: (link_file((run := trained_line(cli, tmp)) / "line.json", away),
                             ("train", "line", "--out", run, "--resume", "--steps", 8, "--device", "cpu"))[1]),
]


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case, plant", CASES, ids=[row[0] for row in CASES])
def test_a_link_out_of_an_artengine_folder_is_refused_and_nothing_outside_changes(cli, tmp_path, case, plant):
    away = outside(tmp_path)
    args = plant(cli, tmp_path, away)
    before = contents(away)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artengine: error: ") and "link" in lines[0], result.stderr
    assert contents(away) == before


# -- the primitives: reads and writes that never follow a link -------------------------------

def test_read_own_file_refuses_a_link_and_a_folder_that_leads_out(tmp_path):
    away = outside(tmp_path)
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "run.json").symlink_to(away / "notes.txt")
    (tmp_path / "own" / "sub").symlink_to(away, target_is_directory=True)
    with pytest.raises(UsageError, match="is a symbolic link"):
        read_own_file(tmp_path / "own" / "run.json", "run.json")
    with pytest.raises(UsageError, match="leads outside"):
        read_own_file(tmp_path / "own" / "sub" / "notes.txt", "a file", root=tmp_path / "own")
    assert read_user_file_follows(away / "notes.txt")


def read_user_file_follows(path: Path) -> bool:
    return artengine.files.read_user_file(path, "a file") == PRECIOUS.encode()


def test_run_json_rewritten_in_place_on_a_full_disk_is_never_written_through_a_link(tmp_path, monkeypatch):
    away = outside(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").symlink_to(away / "notes.txt")

    def full_disk(path, data):
        raise ArtengineError(f"cannot write '{path}': No space left on device")

    monkeypatch.setattr(artengine.outputs, "replace_file", full_disk)
    with pytest.raises(ArtengineError):
        write_json(tmp_path / "run" / "run.json", {"status": "failed"})
    assert (away / "notes.txt").read_text() == PRECIOUS


def test_a_temporary_name_planted_as_a_link_is_not_written_through(tmp_path):
    away = outside(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / f".0000.png.tmp-{os.getpid()}").symlink_to(away / "notes.txt")
    written = write_new(tmp_path / "run" / "0000.png", b"image")
    assert written.read_bytes() == b"image" and not written.is_symlink()
    assert (away / "notes.txt").read_text() == PRECIOUS


@pytest.mark.parametrize("name", ["../elsewhere/notes.txt", "/etc/passwd", "sub/x.npy", "link.npy"])
def test_an_index_manifest_cannot_point_outside_the_index(tmp_path, name):
    from artengine.plugins.search import store

    away = outside(tmp_path)
    index = tmp_path / "idx"
    index.mkdir()
    (index / "link.npy").symlink_to(away / "notes.txt")
    manifest = {"format": store.FORMAT, "count": 1, "dim": 1, "roots": [], "model": {"spec": "clip:x", "probe": []},
                "faiss": {"factory": "Flat"},
                "files": {kind: {"name": name, "bytes": len(PRECIOUS)} for kind in store.DATA_FILES}}
    (index / store.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="not a file of the index|symbolic link"):
        store.data_path(index, store.read_manifest(index), "embeddings")


def test_an_index_manifest_that_is_a_link_is_refused(tmp_path):
    from artengine.plugins.search import store

    away = outside(tmp_path)
    (away / store.MANIFEST).write_text(json.dumps({"format": store.FORMAT}))
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / store.MANIFEST).symlink_to(away / store.MANIFEST)
    with pytest.raises(UsageError, match="symbolic link"):
        store.read_manifest(tmp_path / "idx")
