"""The web UI draws with `unclip` and `diffusers` as the CLI does: forms from their declared
options, and diffusers' own pixels from a tiny Kandinsky 2.2 folder and a tiny SD folder."""

import json
import time

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from artengine.plugins.ui import server
from tests.unclip_helpers import assert_same_pixels, diffusers_pixels, kandinsky_pixels, make_kandinsky, make_stable_diffusion

pytest_plugins = ("tests.unclip_helpers",)

OWN = "http://127.0.0.1:7860"


@pytest.fixture
def client(unclip_host, tmp_path):
    unclip_host.load()  # as `artengine ui` has loaded the installed plugins before it serves
    with TestClient(server.create_app(tmp_path / "outputs"), base_url=OWN) as test_client:
        yield test_client


def run(client, fields):
    response = client.post("/api/generate", content=json.dumps({"prompt": "a red circle", "fields": fields}),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    job = response.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job}").json()
        if state["status"] in ("complete", "interrupted", "failed", "cancelled"):
            assert state["status"] == "complete", state
            return Image.open(__import__("io").BytesIO(client.get(state["images"][0]["url"]).content))
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_the_form_comes_from_the_declared_options(client):
    generators = {g["name"]: g for g in client.get("/api/schema").json()["generators"]}
    unclip = {o["name"]: o for o in generators["unclip"]["options"]}
    assert unclip["decoder_guidance"]["min"] == 0.0 and unclip["scheduler"]["choices"][0] == "default"
    assert {"image", "mix", "mix_weight", "prior_steps"} <= set(unclip)
    assert "steps" in {o["name"] for o in generators["diffusers"]["options"]}


def test_a_kandinsky_folder_draws_diffusers_pixels_from_the_ui(client, tmp_path):
    prior, decoder = make_kandinsky(tmp_path / "kandinsky")
    image = run(client, {"generator": "unclip", "generator.model": f"unclip:{prior},{decoder}", "seed": "7",
                         "size": "32x32", "generator.prior_steps": "3", "generator.decoder_steps": "3", "generator.decoder_guidance": "4.0",
                         "generator.precision": "fp32"})
    assert_same_pixels(image, kandinsky_pixels(prior, decoder, "a red circle", 7, size=32, steps=3))


def test_a_stable_diffusion_folder_draws_diffusers_pixels_from_the_ui(client, tmp_path):
    folder = make_stable_diffusion(tmp_path / "sd")
    image = run(client, {"generator": "diffusers", "generator.model": f"diffusers:{folder}", "seed": "5",
                         "generator.steps": "3", "generator.precision": "fp32"})
    assert_same_pixels(image, diffusers_pixels(folder, "a red circle", 5))
