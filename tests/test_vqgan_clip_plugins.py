"""A third-party loss works through a plugin alone; config files and compare drive vqgan-clip."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageStat

from tests.vqgan_clip_helpers import TINY, fast, run_json, use_tiny_models

THIRD_PARTY = '''
"""A loss someone else wrote: darker images, and a record of what the generator offered."""
import dataclasses
import json
import artengine
from artengine import Loss, Option


class Darkness(Loss):
    name = "darkness"
    description = "Mean brightness."
    options = (Option("record", str, "", "Write what the context gives to this file."),)

    def __call__(self, images, context):
        if self.settings["record"]:
            given = sorted(f.name for f in dataclasses.fields(context) if getattr(context, f.name) is not None)
            guides = [{"spec": g.spec, "size": g.image_size, "targets": list(g.targets.shape)} for g in context.guides]
            cutouts = context.cutouts(images, 8)
            with open(self.settings["record"], "w") as handle:
                json.dump({"given": given, "guides": guides, "cutouts": list(cutouts.shape), "step": context.step,
                           "steps": context.steps, "images": list(images.shape), "prompt": context.prompt.text,
                           "device": context.device, "tokenizer": isinstance(context.tokenizer, artengine.ImageTokenizer),
                           "latents": list(context.latents.shape)}, handle)
        return images.mean()


@artengine.hookimpl
def register_losses(register):
    register(Darkness)
'''


@pytest.fixture(autouse=True)
def tiny(host):
    use_tiny_models(host)
    torch.set_num_threads(1)


def brightness(path):
    with Image.open(path) as image:
        return sum(ImageStat.Stat(image.convert("RGB")).mean) / 3


def test_a_third_party_loss_from_a_plugin_file_shapes_the_image(cli, tmp_path):
    folder = tmp_path / "third-party"
    folder.mkdir()
    (folder / "dark.py").write_text(THIRD_PARTY)
    base = ["--plugins-dir", folder, "generate", "a thing", "-g", "vqgan-clip", "--seed", "2", "--json"]
    plain = run_json(cli(*base, *fast(steps=20)))["images"][0]["path"]
    dark = run_json(cli(*base, "--loss", "darkness:20", *fast(steps=20)))["images"][0]["path"]
    assert brightness(dark) < brightness(plain) - 10


def test_losses_get_the_documented_context(cli, tmp_path):
    folder = tmp_path / "third-party"
    folder.mkdir()
    (folder / "dark.py").write_text(THIRD_PARTY)
    record = tmp_path / "context.json"
    result = cli("--plugins-dir", folder, "generate", "red|blue:-0.5", "-g", "vqgan-clip", "-n", "2", "--seed", "2",
                 "--loss", "darkness:0.1", "--set", f"losses.darkness.record={record}",
                 *fast("--set", 'generator.clip=["clip:tiny", "clip:tiny32:0.5"]', steps=3, cutn=5))
    assert result.exit_code == 0, result.output
    seen = json.loads(record.read_text())
    assert seen["given"] == ["cutouts", "guides", "latents", "quantized", "request", "step", "steps", "tokenizer"]
    assert seen["guides"] == [{"spec": "clip:tiny", "size": 16, "targets": [2, 4]},
                              {"spec": "clip:tiny32", "size": 32, "targets": [2, 4]}]
    assert seen["cutouts"] == [10, 3, 8, 8] and seen["images"] == [2, 3, 64, 64]
    assert (seen["step"], seen["steps"]) == (2, 3)
    assert (seen["prompt"], seen["device"], seen["tokenizer"]) == ("red|blue:-0.5", "cpu", True)
    assert seen["latents"] == [2, 8, 8, 8]  # the tiny VQGAN's 8 channels at 64 / 8


def test_a_config_file_sets_the_generator_and_the_losses(cli, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('''
prompt = "red"
seed = 4
n = 2
[generator]
name = "vqgan-clip"
vqgan = "vqgan:tiny"
clip = ["clip:tiny"]
steps = 3
cutn = 4
optimizer = "adamw"
[losses.tv]
weight = 0.5
[losses.symmetry]
weight = 0.2
axis = "both"
''')
    summary = run_json(cli("generate", "--config", config, "--json"))
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert set(run["images"][0]["metadata"]["losses"]) == {"clip", "tv", "symmetry"}
    assert run["configurations"]["vqgan-clip"]["generator"]["optimizer"] == "adamw"


def test_the_main_term_can_be_reweighted_or_aimed_at_another_prompt(cli):
    summary = run_json(cli("generate", "red", "-g", "vqgan-clip", "--seed", "1", "--json", "--loss", "clip:2",
                           "--set", "losses.clip.prompt=blue", *fast(steps=20)))
    with Image.open(summary["images"][0]["path"]) as image:
        r, g, b = ImageStat.Stat(image.convert("RGB")).mean
    assert b > r + 40


def test_compare_shows_two_settings_side_by_side(cli):
    # (`-g vqgan-clip` would drop the --set generator options: a core quirk of merge(), reported)
    result = cli("compare", "red", "--set", "generator.name=vqgan-clip", "--seed", "1", "--axis",
                 "generator.steps=1,8", "--json", *fast())
    summary = run_json(result)
    run_dir = Path(summary["run_dir"])
    assert len(summary["images"]) == 2 and (run_dir / "grid.png").is_file() and (run_dir / "index.html").is_file()
    run = json.loads((run_dir / "run.json").read_text())
    assert sorted(c["generator"]["steps"] for c in run["configurations"].values()) == [1, 8]
