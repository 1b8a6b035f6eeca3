"""Kandinsky 2.2 folders through `-g unclip`, with diffusers' own pipelines as the oracle: the
same folder, seed, steps and guidance give the same pixels (within 1/255)."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.unclip_helpers import assert_same_pixels, kandinsky_pixels, make_kandinsky

pytest_plugins = ("tests.unclip_helpers",)

# fp32: on a CPU with native bf16 `auto` would compute in bf16, which diffusers does not
SETTINGS = ("--set", "generator.prior_steps=3", "--set", "generator.decoder_steps=3", "--size", "32x32",
            "--set", "generator.decoder_guidance=4.0",
            "--set", "generator.precision=fp32")


@pytest.fixture(scope="module")
def kandinsky(tmp_path_factory):
    return make_kandinsky(tmp_path_factory.mktemp("kandinsky"))


def ours(cli, spec, prompt, seed, *args):
    result = cli("generate", prompt, "-g", "unclip", "--set", f"generator.model={spec}", *SETTINGS,
                 "--seed", str(seed), "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"]


@pytest.mark.parametrize("prompt, negative", [("a red circle", None), ("a red circle | blue:-1", "blue")])
def test_generate_draws_the_pixels_diffusers_draws(unclip_host, cli, kandinsky, prompt, negative):
    prior, decoder = kandinsky
    reference = kandinsky_pixels(prior, decoder, "a red circle", 7, negative=negative, size=32, steps=3)
    assert_same_pixels(ours(cli, f"unclip:{prior},{decoder}", prompt, 7)[0]["path"], reference)


def test_a_folder_holding_prior_and_decoder_loads_the_same_and_reproduces(unclip_host, cli, kandinsky):
    prior, decoder = kandinsky
    images = ours(cli, f"unclip:{prior.parent}", "a red circle", 7, "-n", "2")
    seven = next(i for i in images if i["seed"] == 7)
    assert_same_pixels(seven["path"], kandinsky_pixels(prior, decoder, "a red circle", 7, size=32, steps=3))
    result = cli("reproduce", seven["path"])
    assert result.exit_code == 0 and "identical" in result.output, result.output


def test_compare_draws_each_configuration_with_diffusers_pixels(unclip_host, cli, kandinsky):
    prior, decoder = kandinsky
    result = cli("compare", "a red circle", "-g", "unclip", "--set", f"generator.model=unclip:{prior},{decoder}",
                 *SETTINGS, "--seed", "7", "--axis", "generator.decoder_guidance=4.0,1.0", "--json")
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    guided = next(i for i in images if i["configuration"] == "unclip decoder_guidance=4.0")
    assert_same_pixels(guided["path"], kandinsky_pixels(prior, decoder, "a red circle", 7, size=32, steps=3))


@pytest.mark.parametrize("damage, expected", [
    (lambda prior, decoder: shutil.rmtree(prior / "text_encoder"), "lacks its text_encoder/ folder"),
    (lambda prior, decoder: shutil.rmtree(decoder / "movq"), "lacks its movq/ folder"),
    (lambda prior, decoder: (decoder / "unet" / "diffusion_pytorch_model.safetensors").rename(
        decoder / "unet" / "diffusion_pytorch_model.bin"), "pickled weights only"),
    (lambda prior, decoder: (decoder / "model_index.json").write_text("{not json"), "does not load as a diffusers"),
])
def test_damaged_kandinsky_folders_are_one_line(unclip_host, cli, kandinsky, tmp_path, damage, expected):
    copy = tmp_path / "copy"
    shutil.copytree(kandinsky[0].parent, copy)
    damage(copy / "prior", copy / "decoder")
    result = cli("generate", "x", "-g", "unclip", "--set", f"generator.model=unclip:{copy}", *SETTINGS)
    assert result.exit_code != 0 and expected in result.stderr, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
