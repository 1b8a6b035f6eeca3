"""`clip-diffusion`: DDIM sampling of a latent diffusion model, each step's clean estimate moved
against the losses' gradient (CLIP's first). On a tiny random unCLIP folder over the shipped
clip:shapes and vqgan:shapes, guided by the shipped CLIP."""

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.unclip_helpers import make_unclip_folder
from tests.vqgan_clip_helpers import CtrlCPlugin


@pytest.fixture(scope="module")
def denoiser_folder(tmp_path_factory):
    return make_unclip_folder(tmp_path_factory.mktemp("tiny") / "tiny-unclip")


@pytest.fixture
def generate(builtin_plugins, cli, denoiser_folder, one_thread):
    builtin_plugins.add(CtrlCPlugin(), name="ctrl-c")

    def run(prompt="a red circle", *extra, steps=4, n=2, seed=5):
        return cli("generate", prompt, "-g", "clip-diffusion", "-n", n, "--seed", seed, "--json",
                   "--set", f"generator.model=unclip:{denoiser_folder}", "--set", f"generator.steps={steps}",
                   "--set", "generator.cutn=2", *extra)

    return run


def record(result) -> dict:
    """run.json of a `generate --json` run, with its folder."""
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.stdout)["run_dir"])
    return {**json.loads((folder / "run.json").read_text()), "folder": str(folder)}


def pixels_by_seed(result) -> dict[int, bytes]:
    document = record(result)
    folder = Path(document["folder"])
    return {entry["seed"]: Image.open(folder / entry["path"]).tobytes() for entry in document["images"]}


def test_without_steering_it_is_ddim_sampling_of_the_model_as_diffusers_runs_it(builtin_plugins, denoiser_folder):
    """clip_guidance 0 leaves the model's estimate as it is: the loop is then DDIM over the
    model's own v-prediction, as diffusers' scheduler steps it from the UNet's output."""
    from diffusers import DDIMScheduler

    from artengine import Request, get_registry, parse_prompt, resolve_options

    from artengine.plugins.clip_guided.diffusion import Sampling

    cls = get_registry().get("generator", "clip-diffusion")
    options = resolve_options(cls.options, {"model": f"unclip:{denoiser_folder}",
                                            "steps": 5, "clip_guidance": 0.0, "condition": "none", "cutn": 1},
                              "generator")
    sampling = Sampling(Request(parse_prompt("red"), (3,), (64, 64), "cpu", options))
    sampling.start()
    start = sampling.x.clone()
    for step in range(5):
        sampling.step(step)

    model = sampling.model
    scheduler = DDIMScheduler.from_config(model.noise_schedule.config)  # v-prediction, as trained
    scheduler.set_timesteps(5)
    x = start
    with torch.no_grad():
        for t in scheduler.timesteps:
            # no condition: a zero image embedding and a zero caption
            v = model.unet(x, t[None], encoder_hidden_states=torch.zeros(1, model.caption_length, model.dim),
                           added_cond_kwargs={"image_embeds": torch.zeros(1, model.dim)}).sample
            x = scheduler.step(v, t, x).prev_sample
    torch.testing.assert_close(sampling.x, x, atol=1e-4, rtol=1e-4)


def test_clip_steers_the_sample_towards_the_prompt(generate):
    def similarities(guidance):
        document = record(generate("a red circle", "--set", f"generator.clip_guidance={guidance}", n=3))
        return [image["metadata"]["clip_similarity"] for image in document["images"]]

    alone, steered = similarities(0), similarities(0.3)  # the default
    assert sum(steered) > sum(alone) + 0.1, (alone, steered)


def test_every_chosen_loss_steers_it_too(generate):
    first = record(generate("a red circle", "--loss", "tv:1"))["images"][0]["metadata"]["losses"]
    assert set(first) == {"clip", "tv"}


def test_a_candidate_depends_on_its_own_seed_alone(generate):
    def pixels(result):
        return {seed: torch.tensor(list(data)) for seed, data in pixels_by_seed(result).items()}

    two, one = pixels(generate("a red circle", n=2, seed=5)), pixels(generate("a red circle", n=1, seed=6))
    # equal up to floating point: batched and single arithmetic may round differently
    assert (two[6] - one[6]).abs().max() <= 2 and (two[5] - two[6]).abs().max() > 2


def test_reproduce_gives_identical_pixels(generate, cli):
    first = record(generate("a red circle", n=1))
    image = Path(first["folder"]) / first["images"][0]["path"]
    result = cli("reproduce", image, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["identical"] is True


def test_ctrl_c_keeps_the_state_and_resume_finishes_as_an_unstopped_run(generate, cli):
    whole = pixels_by_seed(generate("a red circle", "--loss", "ctrl_c:1", "--set", "losses.ctrl_c.at_step=99", steps=6))
    stopped = generate("a red circle", "--loss", "ctrl_c:1", "--set", "losses.ctrl_c.at_step=3", steps=6)
    assert stopped.exit_code == 130
    folder = Path(json.loads(stopped.stdout)["run_dir"])
    assert list(folder.glob("state/*/clip-diffusion.pt"))
    document = json.loads((folder / "run.json").read_text())
    assert all(image["metadata"].get("interrupted") for image in document["images"])

    resumed = cli("generate", "--resume", folder, "--json")  # from step 4: the stop at step 3 is behind it
    assert resumed.exit_code == 0, resumed.output
    assert pixels_by_seed(resumed) == whole


@pytest.mark.parametrize("extra, message", [
    (["--set", "generator.model=clip:shapes"], "generator.model 'clip:shapes' loads a ClipModel, which is not a LatentDenoiser"),
    (["--size", "32x32"], "makes 64x64 images; use --size 64x64"),
    (["--set", "generator.augment=[\"blur\"]"], "unknown augmentation 'blur'"),
])
def test_bad_settings_are_one_line(generate, extra, message):
    result = generate("a red circle", *extra)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_the_web_ui_offers_it_with_its_declared_options_and_draws_what_the_cli_draws(generate, builtin_plugins,
                                                                                     denoiser_folder, tmp_path):
    from starlette.testclient import TestClient

    from artengine.plugins.ui import server
    from tests.ui_helpers import post, wait_done

    cli_pixels = pixels_by_seed(generate("a red circle", n=1, seed=4))[4]
    builtin_plugins.load()
    with TestClient(server.create_app(tmp_path / "ui-outputs"), base_url="http://127.0.0.1:7860") as client:
        generators = {g["name"]: g for g in client.get("/api/schema").json()["generators"]}
        options = {o["name"]: o for o in generators["clip-diffusion"]["options"]}
        assert options["condition"]["choices"] == ["prompt", "none"] and options["clip_guidance"]["min"] == 0.0
        fields = {"generator": "clip-diffusion", "seed": "4", "n": "1", "generator.model": f"unclip:{denoiser_folder}",
                  "generator.steps": "4", "generator.cutn": "2"}
        response = post(client, "/api/generate", {"prompt": "a red circle", "fields": fields})
        assert response.status_code == 200, response.text
        state = wait_done(client, response.json()["id"], timeout=300)
        assert state["status"] == "complete", state
        image = Image.open(io.BytesIO(client.get(state["images"][0]["url"]).content))
    assert image.tobytes() == cli_pixels
