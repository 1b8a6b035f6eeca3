"""The CLIP commands read every file a user names through the safe reader, bounded.

`index build` meets hostile files among good ones (a FIFO named .png, a link to /dev/zero, a
1 kB PNG of 1 x 400,000 pixels, a FIFO caption): each is skipped with a warning and the rest
is indexed. `classify` (and `search --image`) given such an image, a FIFO or endless labels
file, 100,000 labels or a template with a format spec ends at once: one line, or (the
template) a result, never a hang or a memory blow-up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

import artengine.plugins.clip
import artengine.plugins.search
import artengine.plugins.shapes
from tests.search_helpers import shapes_folder, tiny_clip

pytestmark = pytest.mark.usefixtures("watchdog")  # conftest.py: a hang fails after 60 s


@pytest.fixture(autouse=True)
def search_plugins(host):
    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.shapes, name="shapes")
    host.add(artengine.plugins.search, name="search")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("models") / "tiny")


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def endless(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def strip(path: Path) -> Path:
    Image.new("RGB", (400_000, 1), (200, 30, 30)).save(path)  # about 1 kB on disk
    return path


HOSTILE_IMAGES = {"a FIFO named .png": (fifo, "FIFO"), "a link to /dev/zero": (endless, "character device"),
                  "a 1 x 400,000 pixel PNG": (strip, "too elongated")}


@pytest.mark.parametrize("case", list(HOSTILE_IMAGES))
def test_index_build_skips_a_hostile_image_with_a_warning_and_indexes_the_rest(cli, tmp_path, model, case):
    make, says = HOSTILE_IMAGES[case]
    shapes_folder(tmp_path / "pics", 3)
    make(tmp_path / "pics" / "hostile.png")
    result = cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu",
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] == 3
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "skipped" in warnings[0] and says in warnings[0], warnings


@pytest.mark.parametrize("make, says", [(fifo, "FIFO"), (endless, "character device")], ids=["FIFO", "/dev/zero"])
def test_index_build_reads_a_hostile_caption_file_as_no_caption(cli, tmp_path, model, make, says):
    shapes_folder(tmp_path / "pics", 2)
    (tmp_path / "pics" / "00001.txt").unlink()
    make(tmp_path / "pics" / "00001.txt")
    result = cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu",
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] == 2
    assert says in result.stderr and "00001.txt" in result.stderr


def many_labels(path: Path) -> Path:
    path.write_text("".join(f"label {i}\n" for i in range(100_000)) + "label 7\n")
    return path


# (case, what to make, the arguments with {made}, what the one line says)
CLASSIFY = [
    ("image: a FIFO named .png", fifo, "hostile.png", ("classify", "{made}", "--labels", "a,b"), "FIFO"),
    ("image: a link to /dev/zero", endless, "hostile.png", ("classify", "{made}", "--labels", "a,b"), "character device"),
    ("image: 1 x 400,000 pixels", strip, "hostile.png", ("classify", "{made}", "--labels", "a,b"), "too elongated"),
    ("labels file: a FIFO", fifo, "labels.txt", ("classify", "{good}", "--labels-file", "{made}"), "FIFO"),
    ("labels file: a link to /dev/zero", endless, "labels.txt", ("classify", "{good}", "--labels-file", "{made}"),
     "character device"),
    ("labels file: 100,000 labels, one twice", many_labels, "labels.txt",
     ("classify", "{good}", "--labels-file", "{made}"), "'label 7' is given twice"),
    ("search --image: 1 x 400,000 pixels", strip, "hostile.png", ("search", "{index}", "--image", "{made}"),
     "too elongated"),
]


@pytest.mark.parametrize("case, make, name, args, says", CLASSIFY, ids=[row[0] for row in CLASSIFY])
def test_classify_and_search_refuse_hostile_files_in_one_line_at_once(cli, tmp_path, model, case, make, name, args, says):
    (good,) = shapes_folder(tmp_path / "pics", 1)
    index = tmp_path / "idx"
    if "{index}" in args:
        assert cli("index", "build", tmp_path / "pics", "--model", model, "--out", index, "--device", "cpu").exit_code == 0
    made = make(tmp_path / name)
    started = time.monotonic()
    result = cli(*(a.format(made=made, good=good, index=index) for a in args), "--model", model, "--device", "cpu")
    assert time.monotonic() - started < 20
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artengine: error: ") and says in lines[0], result.stderr


@pytest.mark.parametrize("template", ["{} {0:>900000000}", "{} {:>900000000}", "a {} of {label.__class__}",
                                      "a photo of a {}"])
def test_a_template_fills_in_the_label_only_and_a_format_spec_is_plain_text(template):
    from artengine.plugins.search.classify import templates_for

    (fill,) = templates_for([], [template])
    assert fill("cat") == template.replace("{}", "cat")
