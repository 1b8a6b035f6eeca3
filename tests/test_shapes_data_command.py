"""`artengine data shapes`: pairs on disk, reproducible, never overwriting."""

import json

import pytest
from PIL import Image

import artengine.plugins.shapes
from artengine.plugins.shapes.world import parse_caption


@pytest.fixture(autouse=True)
def shapes(host):
    host.add(artengine.plugins.shapes, name="shapes")


def test_it_writes_image_caption_pairs_and_their_attributes(cli, tmp_path):
    result = cli("data", "shapes", "--n", 12, "--out", "pairs", "--seed", 5)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "pairs"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{i:05d}.png" for i in range(12)] + [f"{i:05d}.txt" for i in range(12)] + ["captions.jsonl", ".artengine-folder"])
    records = [json.loads(line) for line in (folder / "captions.jsonl").read_text().splitlines()]
    assert len(records) == 12
    for number, record in enumerate(records):
        text = (folder / f"{number:05d}.txt").read_text().strip()
        assert record["image"] == f"{number:05d}.png" and record["caption"] == text
        with Image.open(folder / record["image"]) as image:
            assert image.mode == "RGB" and image.size == (64, 64)
            assert image.getpixel((0, 0)) == {"black": (0, 0, 0), "white": (255, 255, 255),
                                              "gray": (128, 128, 128)}[record["background"]]
        named = {k: v for k, v in parse_caption(text).attributes().items() if v is not None}
        assert named == {k: v for k, v in record["attributes"].items() if k not in record["omitted"]}
        assert all(obj["side"] and obj["centre"] for obj in record["objects"])


def test_the_same_seed_writes_the_same_files(cli, tmp_path):
    for out in ("a", "b"):
        assert cli("data", "shapes", "--n", 6, "--out", out, "--seed", 3, "--objects", "2").exit_code == 0
    for name in ["captions.jsonl"] + [f"0000{i}.{ext}" for i in range(6) for ext in ("png", "txt")]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    captions = [(tmp_path / "a" / f"0000{i}.txt").read_text() for i in range(6)]
    assert all(parse_caption(c).relation for c in captions)


def test_a_folder_that_holds_pairs_is_refused_and_left_alone(cli, tmp_path):
    assert cli("data", "shapes", "--n", 3, "--out", "pairs", "--seed", 1).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "pairs").iterdir()}
    result = cli("data", "shapes", "--n", 3, "--out", "pairs", "--seed", 2)
    assert result.exit_code == 2
    assert "already holds pairs" in result.output and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "pairs").iterdir()} == before


def test_a_folder_with_other_files_is_refused_and_left_alone(cli, tmp_path):
    (tmp_path / "pairs").mkdir()
    (tmp_path / "pairs" / "notes.txt").write_text("mine")
    result = cli("data", "shapes", "--n", 2, "--out", "pairs")
    assert result.exit_code == 2 and "did not write there" in result.output
    assert [p.name for p in (tmp_path / "pairs").iterdir()] == ["notes.txt"]


def test_bad_arguments_are_one_line_errors(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    for args in (["--n", 0, "--out", "x"], ["--n", 2, "--out", "file"], ["--n", 2, "--out", "x", "--objects", "3"]):
        result = cli("data", "shapes", *args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.output.startswith("artengine: error:")
