"""The gallery's search: by CLIP through the search index when one exists (`artengine index build
OUT` puts it at OUT.index), reached through the registry as `load_model("index:PATH")`; by
prompt text otherwise, saying why."""

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

import artengine
from artengine.plugins.ui import server
from tests.ui_helpers import post


@pytest.fixture
def out(tmp_path):
    return tmp_path / "outputs"


def made(client, prompt) -> dict:
    """A complete run of the test plugins' `solid` generator, made through the UI."""
    job = post(client, "/api/generate", {"prompt": prompt, "fields": {"generator": "solid", "seed": "1"}}).json()
    deadline = time.monotonic() + 60
    while (state := client.get(f"/api/jobs/{job['id']}").json())["status"] != "complete":
        assert time.monotonic() < deadline and state["status"] in ("queued", "running"), state
        time.sleep(0.05)
    time.sleep(1.1)  # run folders are named by the second
    return state


class FakeIndexes(artengine.ModelLoader):
    """A stand-in for the search plugin's `index:` loader: each search returns `hits`."""

    kind = "index"
    description = "search indexes (test)"
    hits: list = []
    queries: list = []

    def load(self, name, device):
        def search(text, k=20):
            FakeIndexes.queries.append((name, text, k))
            return FakeIndexes.hits

        return SimpleNamespace(search=search)


class FakeIndexPlugin:
    @staticmethod
    @artengine.hookimpl
    def register_model_loaders(register):
        register(FakeIndexes())


def test_with_an_index_the_gallery_shows_the_runs_of_the_best_clip_hits_first(host, out, tmp_path):
    host.add(FakeIndexPlugin, name="fake-index")
    (tmp_path / "outputs.index").mkdir()  # where `artengine index build outputs` puts it
    with TestClient(server.create_app(out), base_url="http://127.0.0.1:7860") as client:
        square, circle = made(client, "red square"), made(client, "blue circle")
        image = {state["run"]: out / state["images"][0]["url"].removeprefix("/files/") for state in (square, circle)}
        preview = image[square["run"]].parent / "previews" / "a-preview.png"  # work in progress, not a result
        preview.parent.mkdir(exist_ok=True)
        preview.write_bytes(image[square["run"]].read_bytes())
        FakeIndexes.hits = [SimpleNamespace(path=str(preview), similarity=0.95),
                            SimpleNamespace(path=str(image[circle["run"]]), similarity=0.9),
                            SimpleNamespace(path=str(tmp_path / "elsewhere.png"), similarity=0.8),  # not a run's
                            SimpleNamespace(path=str(image[square["run"]]), similarity=0.25)]
        found = client.get("/api/runs", params={"q": "crimson"}).json()  # a word in no prompt
    assert FakeIndexes.queries[-1] == (str((tmp_path / "outputs.index").resolve()), "crimson", 200)
    assert found["search"] == {"by": "clip", "index": str((tmp_path / "outputs.index").resolve()), "hits": 4}
    assert [(run["name"], run["similarity"]) for run in found["runs"]] == [(circle["run"], 0.9), (square["run"], 0.25)]
    assert found["runs"][0]["thumb"] == circle["images"][0]["url"]


def test_without_an_index_the_gallery_searches_prompt_text_and_says_so(host, out, tmp_path):
    with TestClient(server.create_app(out), base_url="http://127.0.0.1:7860") as client:
        made(client, "red square"), made(client, "blue circle")
        found = client.get("/api/runs", params={"q": "RED"}).json()
        assert [run["prompts"] for run in found["runs"]] == [["red square"]]
        assert found["search"]["by"] == "prompt" and "no search index at" in found["search"]["note"]
        assert client.get("/api/runs").json()["search"] is None  # no query: every run, newest first
    (tmp_path / "outputs.index").mkdir()  # an index, but no plugin that reads one
    with TestClient(server.create_app(out), base_url="http://127.0.0.1:7860") as client:
        found = client.get("/api/runs", params={"q": "blue"}).json()
    assert [run["prompts"] for run in found["runs"]] == [["blue circle"]]
    assert found["search"]["by"] == "prompt" and "unknown model loader 'index'" in found["search"]["note"]


def test_the_real_search_index_serves_the_gallery_and_its_updates(host, out, tmp_path, cli):
    import artengine.plugins.clip
    import artengine.plugins.search
    from tests.search_helpers import tiny_clip

    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")
    model = tiny_clip(tmp_path / "tiny")
    with TestClient(server.create_app(out), base_url="http://127.0.0.1:7860") as client:
        first = made(client, "red square")
        build = cli("index", "build", out, "--model", model, "--device", "cpu")
        assert build.exit_code == 0, build.output
        found = client.get("/api/runs", params={"q": "a red square"}).json()
        assert found["search"]["by"] == "clip" and [run["name"] for run in found["runs"]] == [first["run"]]
        second = made(client, "blue circle")
        assert cli("index", "update", out.with_name("outputs.index"), "--device", "cpu").exit_code == 0
        found = client.get("/api/runs", params={"q": "a red square"}).json()  # the same server sees the update
    assert {run["name"] for run in found["runs"]} == {first["run"], second["run"]}
    similarities = [run["similarity"] for run in found["runs"]]
    assert similarities == sorted(similarities, reverse=True)
