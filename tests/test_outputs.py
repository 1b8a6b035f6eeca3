"""Outputs: new run folders, atomic writes that never overwrite, and failures that leave nothing half-written."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artengine.errors import ArtengineError, UsageError
from artengine.outputs import new_run_dir, replace_file, slugify, write_new


def test_slugs():
    assert slugify("A large RED circle: on the left!") == "a-large-red-circle-on-the-left"
    assert slugify("???") == "untitled"
    assert len(slugify("x" * 100)) == 40


def test_run_folders_are_never_shared(tmp_path):
    folders = {new_run_dir(tmp_path, "same label") for _ in range(25)}
    assert len(folders) == 25 and all(f.is_dir() for f in folders)


def test_concurrent_processes_get_their_own_folders(tmp_path):
    code = "import sys; from artengine.outputs import new_run_dir; print(new_run_dir(sys.argv[1], 'race'))"
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
                 for _ in range(6)]
    folders = {p.communicate()[0].strip() for p in processes}
    assert len(folders) == 6


def test_write_new_never_overwrites(tmp_path):
    target = tmp_path / "image.png"
    target.write_bytes(b"mine")
    written = write_new(target, b"new")
    assert target.read_bytes() == b"mine"
    assert written == tmp_path / "image-2.png" and written.read_bytes() == b"new"


def test_a_full_disk_leaves_no_partial_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ArtengineError, match="No space left on device"):
        write_new(tmp_path / "image.png", b"x" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_replace_file_swaps_whole_files_from_bytes_or_a_writer(tmp_path):
    target = tmp_path / "state.bin"
    replace_file(target, b"old")
    replace_file(target, lambda path: path.write_bytes(b"new"))  # for libraries that write to a path
    assert target.read_bytes() == b"new"
    assert list(tmp_path.iterdir()) == [target]


def test_replace_file_syncs_before_the_rename(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync"))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace"))
    replace_file(tmp_path / "a", lambda path: path.write_bytes(b"x"))
    assert events == ["fsync", "replace"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def broken(path):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_file(target, broken)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_a_full_disk_during_generate_is_one_line(cli, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = cli("generate", "red", "-g", "solid", "--seed", "1")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("artengine: error: cannot write")
    assert "No space left on device" in result.stderr and "Traceback" not in result.output
    assert not [p for p in Path(tmp_path).rglob("*") if ".tmp-" in p.name or p.suffix == ".png"]


def test_out_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot create the output folder"):
        new_run_dir(tmp_path / "file" / "sub", "x")
