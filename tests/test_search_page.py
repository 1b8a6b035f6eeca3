"""`artengine search --html`: a page of thumbnails that opens offline in a real headless browser."""

import json

import pytest

import artengine.plugins.clip
import artengine.plugins.search
from tests.search_helpers import generated_png, shapes_folder, tiny_clip
from tests.browser_helpers import HARNESS, open_in_browser


@pytest.fixture(autouse=True)
def search_plugins(host):
    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")


def search_page(cli, tmp_path, *extra):
    model = tiny_clip(tmp_path / "model")
    shapes_folder(tmp_path / "pics", 5)
    generated_png(tmp_path / "pics" / "made.png", "a red <b>circle</b>", 3, "dalle", 0.25)
    assert cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu").exit_code == 0
    result = cli("search", tmp_path / "idx", "a red circle", "-k", 4, "--html", tmp_path / "page" / "hits.html", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"], tmp_path / "page" / "hits.html"


def test_the_page_holds_every_hit_with_its_thumbnail_inline(cli, tmp_path):
    (tmp_path / "page").mkdir()
    hits, page = search_page(cli, tmp_path)
    text = page.read_text()
    assert text.count('<figure class="hit">') == 4 == len(hits)
    assert text.count('src="data:image/png;base64,') == 4 and "http" not in text.replace("http-equiv", "")
    assert "<b>circle</b>" not in text  # the prompt is shown as text, not markup


def test_a_page_is_never_written_over_an_existing_file(cli, tmp_path):
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "hits.html").write_text("mine")
    _, page = search_page(cli, tmp_path)
    assert page.read_text() == "mine" and (tmp_path / "page" / "hits-2.html").is_file()


@pytest.mark.slow
def test_the_page_opens_offline_with_every_thumbnail(cli, tmp_path):
    (tmp_path / "page").mkdir()
    hits, page = search_page(cli, tmp_path)
    harness = page.parent / "check.html"
    harness.write_text(HARNESS.replace('src="index.html"', f'src="{page.name}"'))
    seen = open_in_browser(harness)
    assert seen["images"] == 4 and seen["broken"] == []
    for hit in hits:
        assert f"similarity {hit['similarity']:.4f}" in seen["text"]
    assert "a red circle" in seen["text"]
