"""A command never deletes or writes into a folder it did not create.

Every command that takes an output or cache folder is pointed at (a) a folder of the user's own
files and (b) the very folder its --data comes from. A command that claims the folder (a
training run, a code cache, an index, a folder of pairs or evaluations, a model folder) refuses
with one line and a non-zero exit; one that only ever makes a new run folder inside --out
(generate, compare) adds that one folder and touches nothing else. Either way every file that
was there is still there, byte for byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import artengine
import artengine.plugins.clip
import artengine.plugins.dalle
import artengine.plugins.search
import artengine.plugins.shapes
import artengine.plugins.vqgan
import tests.dalle_helpers as dalle_helpers
from artengine import UsageError
from artengine.files import claim_folder
from artengine.outputs import MARKER
from tests.dalle_helpers import TRAIN_TINY, write_pairs
from tests.vqgan_helpers import TINY as VQGAN_TINY

CLIP_TINY = ("--width", 32, "--layers", 1, "--text-width", 32, "--text-layers", 1, "--embed-dim", 16,
             "--context-length", 16, "--image-size", 32, "--patch-size", 8, "--batch-size", 4, "--warmup", 1)

# (command, its arguments with {target} and {data}, "refuse" or "subfolder")
COMMANDS = [
    ("train vqgan --out", ("train", "vqgan", "--data", "{data}", "--out", "{target}", "--steps", 1, *VQGAN_TINY), "refuse"),
    ("train clip --out", ("train", "clip", "--data", "{data}", "--out", "{target}", "--steps", 1, *CLIP_TINY), "refuse"),
    ("train dalle --out", ("train", "dalle", *TRAIN_TINY, "--data", "{data}", "--out", "{target}", "--steps", 1),
     "refuse"),
    ("train dalle --cache", ("train", "dalle", *TRAIN_TINY, "--data", "{data}", "--out", "{new}", "--cache", "{target}",
                             "--steps", 1), "refuse"),
    ("index build --out", ("index", "build", "{data}", "--out", "{target}"), "refuse"),
    ("data shapes --out", ("data", "shapes", "--n", 2, "--out", "{target}"), "refuse"),
    ("data dalle-bart-random OUT", ("data", "dalle-bart-random", "{target}"), "refuse"),
    ("eval shapes --out", ("eval", "shapes", "-g", "solid", "--n-prompts", 1, "--out", "{target}"), "refuse"),
    ("generate --out", ("generate", "red", "-g", "solid", "--out", "{target}"), "subfolder"),
    ("compare --out", ("compare", "red", "-g", "solid", "-g", "slow", "--out", "{target}"), "subfolder"),
]


@pytest.fixture
def every_plugin(host):
    for module, name in ((artengine.plugins.vqgan, "vqgan"), (artengine.plugins.clip, "clip"),
                         (artengine.plugins.dalle, "dalle"), (artengine.plugins.search, "search"),
                         (artengine.plugins.shapes, "shapes"), (dalle_helpers, "tinyvq")):
        host.add(module, name=name)
    return host


def user_folder(folder: Path) -> Path:
    """What a user keeps: notes, a config of their own, a picture in a subfolder."""
    (folder / "photos").mkdir(parents=True)
    (folder / "README.md").write_text("my notes\n")
    (folder / "config.json").write_text('{"mine": true}\n')
    (folder / "photos" / "cat.txt").write_text("a cat\n")
    return folder


def contents(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            for path in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("target_kind", ["user files", "data folder"])
@pytest.mark.parametrize("name, args, mode", COMMANDS, ids=[row[0] for row in COMMANDS])
def test_no_command_deletes_or_changes_a_folder_it_did_not_create(every_plugin, cli, tmp_path, name, args, mode,
                                                                   target_kind):
    data = write_pairs(tmp_path / "pairs", count=4)
    target = data if target_kind == "data folder" else user_folder(tmp_path / "mine")
    before = contents(target), contents(data)
    values = {"target": target, "data": data, "new": tmp_path / "new-run"}
    result = cli(*(str(a).format(**values) for a in args))

    after = contents(target), contents(data)
    if mode == "refuse":
        assert result.exit_code != 0, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("artengine: error: "), result.stderr
        assert "did not write there" in lines[0] and "Traceback" not in result.output
        assert after == before
        assert not (tmp_path / "new-run").exists() or not any((tmp_path / "new-run").iterdir())
    else:
        assert result.exit_code == 0, result.output
        added = {path.split("/")[0] for path in after[0]} - {path.split("/")[0] for path in before[0]}
        assert len(added) == 1 and (target / added.pop() / "run.json").is_file()
        assert {key: value for key, value in after[0].items() if key in before[0]} == before[0]


# -- the mechanism itself: which folders are claimed, which refused -----------------------------

FOLDERS = [
    # (what is there, claimed?)
    ("nothing", True),
    ("an empty folder", True),
    ("a folder marked for this kind", True),
    ("a folder of other files", False),
    ("what a run writes, without the marker", False),
    ("a folder marked for another kind", False),
    ("a file", False),
    ("a marker that is a link to another folder's marker", False),
]


@pytest.mark.parametrize("state, claimed", FOLDERS, ids=[row[0] for row in FOLDERS])
def test_claim_folder_takes_only_new_empty_or_its_own_folders(tmp_path, state, claimed):
    folder = tmp_path / "out"
    if state != "nothing" and state != "a file":
        folder.mkdir()
    if state == "a folder marked for this kind":
        claim_folder(folder, "training run", "--out")
        (folder / "checkpoints").mkdir()
    elif state == "what a run writes, without the marker":
        (folder / "checkpoints").mkdir()
    elif state == "a folder of other files":
        (folder / "notes.txt").write_text("mine")
    elif state == "a folder marked for another kind":
        claim_folder(folder, "index", "--out")
    elif state == "a file":
        folder.write_text("mine")
    elif state.startswith("a marker that is a link"):
        claim_folder(tmp_path / "ours", "training run", "--out")
        (folder / MARKER).symlink_to(tmp_path / "ours" / MARKER)
    before = contents(tmp_path)
    if claimed:
        assert claim_folder(folder, "training run", "--out") == folder
        assert artengine.outputs.folder_kind(folder) == "training run"
    else:
        with pytest.raises(UsageError) as error:
            claim_folder(folder, "training run", "--out")
        assert "\n" not in str(error.value) and f"--out '{folder}'" in str(error.value)
        assert contents(tmp_path) == before


def test_a_check_without_create_makes_nothing(tmp_path):
    claim_folder(tmp_path / "a" / "b", "index", "--out", create=False)
    assert not (tmp_path / "a").exists()
