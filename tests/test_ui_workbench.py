"""The UI's server for the page's workbench, without a browser: the job list a reloaded page
rejoins, Stop on the job named, uploads (checked, kept inside --out, copied into the run and
recorded), the negative prompt, labels in words, losses only where a generator takes them, a
warning (a prompt cut to fit) on the job, and the gallery a page at a time."""

import base64
import io
import json

import pytest
from PIL import Image
from starlette.testclient import TestClient

import artengine
import artengine.files
from artengine import Candidate, Generator, Option

from artengine.plugins.ui import forms, server
from tests.ui_helpers import post, wait_done


@pytest.fixture
def out(tmp_path):
    return tmp_path / "outputs"


@pytest.fixture
def client(out):
    with TestClient(server.create_app(out), base_url="http://127.0.0.1:7860") as test_client:
        yield test_client


def png(colour="red", size=(8, 8), **texts) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def upload(client, data: bytes):
    return post(client, "/api/uploads", {"data": base64.b64encode(data).decode()})


class Tinted(Generator):
    """Paints the average colour of its `init_image` (an image option: an upload in the form);
    warns, as a model does of a prompt it cuts, when the prompt is long."""

    name = "tinted"
    description = "The init image's average colour."
    options = (Option("init_image", str, "", "Image whose colour is painted."),
               Option("image_prompts", list, [], "Images, each ID or ID:WEIGHT."),
               Option("cuda_graphs", bool, False, "A name with an abbreviation."))

    def generate(self, request, progress):
        colour = (0, 0, 0)
        if request.options["init_image"]:
            colour = artengine.files.read_image(request.options["init_image"], "init_image").resize((1, 1)).getpixel((0, 0))
        if len(request.prompt.positive[0].text) > 20:
            artengine.warn(f"tinted reads at most 20 characters; the last {len(request.prompt.positive[0].text) - 20} were cut")
        return [Candidate(Image.new("RGB", request.size, colour), seed, {"weights": [p.weight for p in request.prompt.parts]})
                for seed in request.seeds]


class Optimising(Tinted):
    name = "optimising"
    takes_losses = True


class Waiting(Generator):
    """Takes a twentieth of a second per step: a job that is busy for a while."""

    name = "waiting"
    description = "Waits."
    options = (Option("steps", int, 10, "Steps.", min=1),)

    def generate(self, request, progress):
        import time

        for step in range(request.options["steps"]):
            time.sleep(0.05)
            progress(step + 1, request.options["steps"])
        return [Candidate(Image.new("RGB", request.size), seed, {}) for seed in request.seeds]


class TintedPlugin:
    @staticmethod
    @artengine.hookimpl
    def register_generators(register):
        register(Tinted)
        register(Optimising)
        register(Waiting)


@pytest.fixture
def tinted(host):
    host.add(TintedPlugin, name="tinted")


def test_options_are_labelled_in_words_images_are_uploads_and_losses_go_where_declared(tinted, client):
    generators = {g["name"]: g for g in client.get("/api/schema").json()["generators"]}
    options = {o["name"]: o for o in generators["tinted"]["options"]}
    assert options["cuda_graphs"]["label"] == "CUDA graphs" and options["init_image"]["label"] == "Init image"
    assert options["init_image"]["image"] and options["image_prompts"]["image"] and not options["cuda_graphs"]["image"]
    assert not generators["tinted"]["takes_losses"] and generators["optimising"]["takes_losses"]


@pytest.mark.parametrize("name, label", [("cuda_graphs", "CUDA graphs"), ("top_k", "Top k"), ("lr_decay", "Learning rate decay"),
                                         ("cutn", "Cutouts"), ("prior_guidance", "Prior guidance"), ("n", "N")])
def test_labels_spell_out_option_names(name, label):
    assert forms.label(name) == label


def test_the_job_list_has_every_job_newest_first_and_stop_stops_the_one_named(tinted, client):
    first = post(client, "/api/generate", {"prompt": "one", "fields": {"generator": "waiting", "generator.steps": "400"}}).json()
    second = post(client, "/api/generate", {"prompt": "two", "fields": {"generator": "waiting", "generator.steps": "400"}}).json()
    listed = client.get("/api/jobs").json()["jobs"]
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert listed[0]["status"] == "queued" and listed[0]["position"] >= 1
    assert post(client, f"/api/jobs/{second['id']}/stop", {}).json()["status"] == "cancelled"
    assert client.get(f"/api/jobs/{first['id']}").json()["status"] in ("queued", "running")
    post(client, f"/api/jobs/{first['id']}/stop", {})
    assert wait_done(client, first["id"])["status"] == "interrupted"


def test_the_negative_prompt_becomes_parts_at_weight_minus_one(client, out):
    state = wait_done(client, post(client, "/api/generate", {"prompt": "red", "negative": "blue | dark\ngrey",
                                                           "fields": {"generator": "solid"}}).json()["id"])
    document = json.loads((out / state["run"] / "run.json").read_text())
    assert document["configurations"]["solid"]["prompts"] == ["red|blue:-1|dark:-1|grey:-1"]


def test_an_uploaded_image_is_kept_inside_out_used_by_id_and_copied_into_the_run(tinted, client, out):
    answer = upload(client, png("blue"))
    assert answer.status_code == 200, answer.text
    upload_id = answer.json()["id"]
    assert (out / "uploads" / upload_id).read_bytes() == png("blue")
    assert upload(client, png("blue")).json()["id"] == upload_id  # the same bytes: the same file
    assert client.get(answer.json()["url"]).content == png("blue")
    state = wait_done(client, post(client, "/api/generate", {"prompt": "x", "fields": {
        "generator": "tinted", "generator.init_image": upload_id, "generator.image_prompts": f"{upload_id}:0.5"}}).json()["id"])
    assert state["status"] == "complete", state
    run = out / state["run"]
    document = json.loads((run / "run.json").read_text())
    assert document["uploads"] == {"generator.init_image": [f"inputs/{upload_id}"],
                                   "generator.image_prompts": [f"inputs/{upload_id.removesuffix('.png')}-2.png"]}
    assert (run / "inputs" / upload_id).read_bytes() == png("blue")
    assert document["configurations"]["tinted"]["generator"]["init_image"] == str(out / "uploads" / upload_id)
    assert Image.open(run / document["images"][0]["path"]).getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/passwd", "0" * 24 + ".png", "x.png:1,../a"])
def test_an_image_field_takes_only_an_upload_never_a_server_path(tinted, client, out, value):
    answer = post(client, "/api/generate", {"prompt": "x", "fields": {"generator": "tinted", "generator.init_image": value}})
    assert answer.status_code == 400 and answer.json()["field"] == "generator.init_image"
    assert "upload the image again" in answer.json()["error"]
    assert not out.exists() or [p.name for p in out.iterdir()] in ([], ["uploads"])


@pytest.mark.parametrize("data, message", [
    (b"not an image at all", "upload: the file is not a readable image"),
    (png()[:40], "upload: the file is not a readable image"),
    (b"", "the file is empty"),
])
def test_an_upload_that_is_not_an_image_is_one_line_and_keeps_nothing(client, out, data, message):
    answer = upload(client, data)
    assert answer.status_code == 400 and answer.json()["error"].startswith("artengine: error: ")
    assert message in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert str(out) not in answer.json()["error"]  # said of the upload, not of a server path
    assert list((out / "uploads").iterdir()) == [] if (out / "uploads").exists() else True


def test_an_uploads_folder_that_leads_out_of_out_is_neither_written_nor_read(tinted, client, out, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ("a" * 24 + ".png")).write_bytes(png())
    (out / "uploads").symlink_to(elsewhere)  # out itself the server made
    answer = upload(client, png("green"))
    assert answer.status_code == 400 and "is not a folder this server made" in answer.json()["error"]
    assert [p.name for p in elsewhere.iterdir()] == ["a" * 24 + ".png"]
    used = post(client, "/api/generate", {"prompt": "x", "fields": {"generator": "tinted", "generator.init_image": "a" * 24 + ".png"}})
    assert used.status_code == 400 and used.json()["field"] == "generator.init_image"


def test_an_upload_over_its_limit_is_refused_and_other_bodies_keep_theirs(client):
    assert upload(client, b"\0" * (server.UPLOAD_BODY)).status_code == 413
    assert post(client, "/api/uploads", {"data": "%%%"}).json()["error"] == "artengine: error: upload: the data is not base64"
    assert post(client, "/api/generate", {"prompt": "x" * (server.MAX_BODY + 1)}).status_code == 413


def test_a_pngs_parameters_are_read_from_an_upload(client):
    ours = png(parameters="a cat, (fluffy:1.2)\nNegative prompt: blurry\nSteps: 20, Seed: 42, Size: 8x8, Generator: solid")
    record = client.get("/api/image", params={"path": f"uploads/{upload(client, ours).json()['id']}"}).json()["metadata"]
    assert record["seed"] == 42 and "blurry:-1" in record["prompt"] and record["config"]["generator"]["name"] == "solid"
    text = "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 8x8, Model: sd15"
    path = f"uploads/{upload(client, png(parameters=text)).json()['id']}"
    answer = client.get("/api/image", params={"path": path})
    assert answer.status_code == 400 and answer.json()["parameters"] == text  # webui's own: shown, not reproducible
    assert "record" not in answer.json()
    # PNG Info reads it onto the form's generator (by its options' infotext keys: none here)
    record = client.get("/api/image", params={"path": path, "generator": "solid"}).json()["record"]
    assert record == {"prompt": "a cat|blurry:-1", "seed": 42, "config": {"generator": {"name": "solid"}, "size": "8x8"}}


def test_a_warning_while_the_job_runs_is_on_the_job(tinted, client):
    state = wait_done(client, post(client, "/api/generate", {"prompt": "a prompt much longer than twenty characters",
                                                           "fields": {"generator": "tinted"}}).json()["id"])
    assert state["warnings"] == ["tinted reads at most 20 characters; the last 23 were cut"]


def test_the_gallery_comes_a_page_at_a_time_newest_first_and_filters_by_generator(client, out):
    for index in range(7):
        folder = out / f"run-{index:02d}"
        folder.mkdir(parents=True)
        generator = "solid" if index % 2 else "dalle"
        (folder / "run.json").write_text(json.dumps({
            "kind": "generate", "status": "complete", "started": f"2026-01-01T00:00:{index:02d}",
            "configurations": {generator: {"generator": {"name": generator}, "prompts": [f"p{index}"]}}, "images": []}))
    first = client.get("/api/runs", params={"limit": "3"}).json()
    assert [r["name"] for r in first["runs"]] == ["run-06", "run-05", "run-04"]
    assert first["total"] == 7 and first["next"] == 3 and first["generators"] == ["dalle", "solid"]
    last = client.get("/api/runs", params={"limit": "3", "offset": "6"}).json()
    assert [r["name"] for r in last["runs"]] == ["run-00"] and last["next"] is None
    solid = client.get("/api/runs", params={"generator": "solid"}).json()
    assert [r["name"] for r in solid["runs"]] == ["run-05", "run-03", "run-01"] and solid["total"] == 3
