"""`-g diffusers`: a local diffusers text-to-image folder, with diffusers itself as the oracle."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.unclip_helpers import assert_same_pixels, diffusers_pixels, make_stable_diffusion

pytest_plugins = ("tests.unclip_helpers",)

# fp32: on a CPU with native bf16 `auto` would compute in bf16, which diffusers does not
SETTINGS = ("--set", "generator.steps=3", "--set", "generator.precision=fp32")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_stable_diffusion(tmp_path_factory.mktemp("sd") / "tiny-sd")


def draw(cli, folder, prompt, *args):
    result = cli("generate", prompt, "-g", "diffusers", "--set", f"generator.model=diffusers:{folder}", *SETTINGS,
                 "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"]


@pytest.mark.parametrize("prompt, negative", [("a red circle", None), ("a red circle | blue:-1", "blue")])
def test_generate_draws_the_pixels_diffusers_draws(unclip_host, cli, folder, prompt, negative):
    images = draw(cli, folder, prompt, "--seed", "5", "-n", "2")
    five = next(i for i in images if i["seed"] == 5)
    assert_same_pixels(five["path"], diffusers_pixels(folder, "a red circle", 5, negative=negative))


def test_default_size_infotext_and_reproduce(unclip_host, cli, folder):
    image = draw(cli, folder, "a red circle", "--seed", "3")[0]
    assert Image.open(image["path"]).size == (64, 64)
    infotext = Image.open(image["path"]).info["parameters"]
    for key in ("Steps: 3", "Sampler: default", "CFG scale: 7.5", "Seed: 3", "Size: 64x64", "Model: \"diffusers:"):
        assert key in infotext, infotext
    result = cli("reproduce", image["path"])
    assert result.exit_code == 0 and "identical" in result.output, result.output


def test_schedulers_and_previews(unclip_host, cli, folder):
    plain = draw(cli, folder, "a red circle", "--seed", "3")[0]
    other = draw(cli, folder, "a red circle", "--seed", "3", "--set", "generator.scheduler=euler_a")[0]
    assert (np.asarray(Image.open(plain["path"])) != np.asarray(Image.open(other["path"]))).any()
    result = cli("generate", "a red circle", "-g", "diffusers", "--set", f"generator.model=diffusers:{folder}",
                 "--set", "generator.steps=4", "--set", "generator.save_every=2", "-n", "2", "--json")
    previews = list((json.loads(result.stdout)["run_dir"] and
                     __import__("pathlib").Path(json.loads(result.stdout)["run_dir"]) / "previews").iterdir())
    assert len(previews) == 1 and Image.open(previews[0]).size == (128, 64)


@pytest.mark.parametrize("damage, expected", [
    (lambda f: (f / "model_index.json").unlink(), "holds no model_index.json"),
    (lambda f: shutil.rmtree(f / "vae"), "lacks its vae/ folder"),
    (lambda f: (f / "unet" / "diffusion_pytorch_model.safetensors").rename(f / "unet" / "diffusion_pytorch_model.bin"),
     "pickled weights only"),
])
def test_bad_folders_are_one_line(unclip_host, cli, folder, tmp_path, damage, expected):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    damage(copy)
    result = cli("generate", "x", "-g", "diffusers", "--set", f"generator.model=diffusers:{copy}")
    assert result.exit_code != 0 and expected in result.stderr, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_a_size_the_unet_cannot_halve_is_refused(unclip_host, cli, folder):
    result = cli("generate", "x", "-g", "diffusers", "--set", f"generator.model=diffusers:{folder}", "--size", "60x60")
    assert result.exit_code != 0 and "multiples of" in result.stderr
