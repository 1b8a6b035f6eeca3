"""`artengine classify`, `artengine index build|update` and `artengine search` as a user runs them."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import artengine.plugins.clip
import artengine.plugins.search
import artengine.plugins.shapes
from tests.search_helpers import generated_png, png_claiming_size, shapes_folder, tiny_clip


@pytest.fixture(autouse=True)
def search_plugins(host):
    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.shapes, name="shapes")
    host.add(artengine.plugins.search, name="search")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("models") / "tiny")


def indexed(cli, tmp_path, model, count=6):
    shapes_folder(tmp_path / "pics", count)
    result = cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu",
                 "--batch-size", 4, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_build_update_and_search_through_the_command_line(cli, tmp_path, model):
    report = indexed(cli, tmp_path, model)
    assert (report["count"], report["embedded"], report["model"]) == (6, 6, model)
    generated_png(tmp_path / "pics" / "made.png", "a red circle", 7, "dalle", 0.4)
    result = cli("index", "update", tmp_path / "idx", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "indexed 7 images" in result.stdout and "1 embedded, 6 kept" in result.stdout
    result = cli("search", tmp_path / "idx", "a red circle", "-k", 3, "--json")
    hits = json.loads(result.stdout)["hits"]
    assert [hit["rank"] for hit in hits] == [1, 2, 3] and hits[0]["similarity"] >= hits[2]["similarity"]
    result = cli("search", tmp_path / "idx", "a circle", "--where", 'generator = "dalle"', "--json")
    assert [Path(hit["path"]).name for hit in json.loads(result.stdout)["hits"]] == ["made.png"]
    result = cli("search", tmp_path / "idx", "--image", tmp_path / "pics" / "00002.png", "-k", 2)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2


def test_the_default_index_folder_sits_beside_the_images(cli, tmp_path, model):
    shapes_folder(tmp_path / "pics", 2)
    result = cli("index", "build", "pics", "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pics.index" / "manifest.json").is_file()


def test_skipped_files_are_warned_about_and_the_rest_indexed(cli, tmp_path, model):
    shapes_folder(tmp_path / "pics", 3)
    png_claiming_size(tmp_path / "pics" / "huge.png", 20000, 20000)
    (tmp_path / "pics" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu")
    assert result.exit_code == 0
    assert "artengine: warning: skipped" in result.stderr and "huge.png': too large" in result.stderr
    assert "indexed 3 images" in result.stdout and "2 skipped" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["index", "build", "empty", "--out", "e.index"], "no images under"),
    (["index", "build", "nowhere"], "'nowhere' does not exist"),
    (["search", "missing.index", "a red circle"], "index 'missing.index' does not exist"),
    (["search", "idx"], "give a TEXT to search for, an --image, or both"),
    (["search", "idx", "a red circle", "--model", "clip:shapes"], "was built with"),
    (["search", "idx", "a red circle", "--where", "generator = dalle"], "--where 'generator = dalle'"),
    (["search", "idx", "a red circle", "--where", "seed = \"x\""], "holds numbers"),
    (["search", "idx", "a red circle", "--image", "no.png"], "no.png' does not exist"),
])
def test_bad_input_is_one_clear_line(cli, tmp_path, model, args, words):
    (tmp_path / "empty").mkdir()
    indexed(cli, tmp_path, model, count=2)
    result = cli(*[a if a != "idx" else tmp_path / "idx" for a in args], *(["--model", model] if args[:2] == ["index", "build"] else []))
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("artengine: error: ") and words in line


def test_classify_gives_each_image_probabilities_over_the_labels(cli, tmp_path):
    shapes_folder(tmp_path / "pics", 4)
    captions = [(tmp_path / "pics" / f"{i:05d}.txt").read_text().strip() for i in range(4)]
    images = [tmp_path / "pics" / f"{i:05d}.png" for i in range(4)]
    result = cli("classify", *images, "--labels", ",".join(captions), "--top", 2, "--json", "--csv", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == "clip:shapes" and out["labels"] == captions
    for image, caption in zip(out["images"], captions):
        assert sum(image["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert len(image["top"]) == 2 and image["top"][0]["label"] == caption  # the shipped model knows its world
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0] == ["path", *captions] and len(rows) == 5


def test_classify_ensembles_templates_through_open_clip(cli, tmp_path):
    shapes_folder(tmp_path / "pics", 1)
    image = tmp_path / "pics" / "00000.png"
    plain = json.loads(cli("classify", image, "--labels", "a red circle,a blue square", "--json").stdout)
    both = json.loads(cli("classify", image, "--labels", "a red circle,a blue square", "--template", "{}",
                          "--template", "a picture of {}", "--json").stdout)
    openai = json.loads(cli("classify", image, "--labels", "a red circle,a blue square", "--templates", "openai", "--json").stdout)
    assert (plain["templates"], both["templates"], openai["templates"]) == (1, 2, 80)
    assert plain["images"][0]["probabilities"] != both["images"][0]["probabilities"]


@pytest.mark.parametrize("args, words", [
    (["--labels", "only one"], "at least two labels"),
    (["--labels", "a,a"], "given twice"),
    ([], "give the labels with --labels"),
    (["--labels", "a,b", "--template", "no slot"], "write the label's place as {}"),
    (["--labels-file", "none.txt"], "does not exist"),
])
def test_classify_bad_input_is_one_clear_line(cli, tmp_path, args, words):
    shapes_folder(tmp_path / "pics", 1)
    result = cli("classify", tmp_path / "pics" / "00000.png", *args)
    assert result.exit_code == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_commands_help_imports_nothing_heavy():
    for args in (["search", "--help"], ["index", "build", "--help"], ["classify", "--help"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "artengine", *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"torch", "open_clip", "faiss", "pyarrow", "numpy"}, args
