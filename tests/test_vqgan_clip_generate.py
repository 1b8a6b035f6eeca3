"""vqgan-clip from the CLI, on tiny models: it makes what the prompt says, per seed, with every option."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageStat

import artengine
from tests.vqgan_clip_helpers import TINY, fast, run_json, use_tiny_models


@pytest.fixture(autouse=True)
def tiny(host):
    use_tiny_models(host)
    torch.set_num_threads(1)


def mean_colour(path):
    with Image.open(path) as image:
        return ImageStat.Stat(image.convert("RGB")).mean


def redness(path):
    r, g, b = mean_colour(path)
    return r - (g + b) / 2


def generate(cli, prompt, *extra, n=1, seed=1, steps=4):
    return run_json(cli("generate", prompt, "-g", "vqgan-clip", "-n", n, "--seed", seed, "--json",
                        *fast(*extra, steps=steps)))


def test_images_move_towards_the_prompt(cli):
    red = generate(cli, "red", steps=25)["images"][0]["path"]
    blue = generate(cli, "blue", steps=25)["images"][0]["path"]
    assert redness(red) > 60 > redness(blue)
    assert mean_colour(blue)[2] > mean_colour(blue)[0] + 60


def test_a_negative_prompt_pushes_away(cli):
    plain = generate(cli, "white", steps=25)["images"][0]["path"]
    not_red = generate(cli, "white|red:-1", steps=25)["images"][0]["path"]
    assert redness(not_red) < redness(plain) - 20


def test_candidate_i_depends_only_on_seed_i(cli):
    together = generate(cli, "green", "--set", 'generator.augment=["affine","perspective","colour","noise"]',
                        n=3, seed=10, steps=5)["images"]
    alone = generate(cli, "green", "--set", 'generator.augment=["affine","perspective","colour","noise"]',
                     n=1, seed=11, steps=5)["images"][0]
    second = next(image for image in together if image["seed"] == 11)
    with Image.open(second["path"]) as a, Image.open(alone["path"]) as b:
        difference = max(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes()))
    assert difference <= 2  # equal up to floating point: batched and single arithmetic may round differently


def test_same_seed_same_image_different_seed_different_image(cli):
    first = generate(cli, "red", seed=3)["images"][0]["path"]
    again = generate(cli, "red", seed=3)["images"][0]["path"]
    other = generate(cli, "red", seed=4)["images"][0]["path"]
    read = lambda p: Image.open(p).tobytes()  # noqa: E731
    assert read(first) == read(again) != read(other)


def test_each_image_records_its_steps_similarity_and_loss_terms(cli):
    summary = generate(cli, "red", "--loss", "tv:0.1", n=2, steps=3)
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    metadata = run["images"][0]["metadata"]
    assert metadata["steps"] == 3 and set(metadata["losses"]) == {"clip", "tv"}
    assert -1 <= metadata["clip_similarity"] <= 1
    assert run["configurations"]["vqgan-clip"]["generator"]["steps"] == 3


def test_size_must_be_a_multiple_of_the_vqgan_factor(cli):
    result = cli("generate", "red", "-g", "vqgan-clip", "--size", "60x64", *fast())
    assert result.exit_code == 2
    assert "steps of 8 pixels" in result.output and "56x64" in result.output
    assert not Path("outputs").exists() or not any(Path("outputs").iterdir())


def test_non_square_sizes_work(cli):
    image = generate(cli, "red", "--size", "32x16", steps=2)["images"][0]["path"]
    assert Image.open(image).size == (32, 16)


@pytest.mark.parametrize("setting, message", [
    ("generator.clip=[\"vit\"]", "is not a CLIP spec"),
    ("generator.clip=[]", "at least one CLIP model"),
    ("generator.vqgan=tiny", "is not a VQGAN spec"),
    ("generator.vqgan=vqgan:huge", "only knows vqgan:tiny"),
    ("generator.vqgan=vqgan:colour-clip", "generator.vqgan 'vqgan:colour-clip' loads a ColourCLIP, which is not an "
                                          "ImageTokenizer: it has no factor, codebook, encode, decode, embed, decode_latents"),
    ("generator.clip=[\"clip:huge\"]", "only knows clip:tiny and clip:tiny32"),
    ("generator.augment=[\"flop\"]", "unknown augmentation 'flop' (did you mean 'flip'?)"),
    ("generator.init_image=missing.png", "'missing.png' does not exist"),
    ("generator.image_prompts=[\"missing.png:2\"]", "'missing.png' does not exist"),
    ("generator.clip=[\"clip:tiny:0\"]", "generator.clip: bad weight '0' in 'clip:tiny:0'; a weight is a non-zero number"),
    ("generator.optimizer=sgd", "'sgd' is not one of"),
])
def test_bad_settings_are_one_line_errors_before_a_run_folder_exists(cli, setting, message):
    result = cli("generate", "red", "-g", "vqgan-clip", *fast("--set", setting))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not Path("outputs").exists() or not any(Path("outputs").iterdir())


def test_the_init_loss_without_an_init_image_is_refused(cli):
    result = cli("generate", "red", "-g", "vqgan-clip", "--loss", "init:1", *fast())
    assert result.exit_code == 2 and "needs an init image" in result.output


def test_several_clip_models_each_see_cutouts_at_their_own_size(cli, host):
    generate(cli, "red", "--set", 'generator.clip=["clip:tiny:1", "clip:tiny32:0.5"]', steps=2)
    assert {size for size in artengine.load_model("clip:tiny", "cpu").sizes_seen} >= {(16, 16)}
    assert (32, 32) in artengine.load_model("clip:tiny32", "cpu").sizes_seen


def test_an_image_prompt_is_a_target(cli, tmp_path):
    Image.new("RGB", (64, 64), (0, 0, 255)).save(tmp_path / "blue.png")
    image = generate(cli, "nothing in particular", "--set", f'generator.image_prompts=["{tmp_path / "blue.png"}:2"]',
                     steps=25)["images"][0]["path"]
    r, g, b = mean_colour(image)
    assert b > r + 60 and b > g + 60


def test_an_init_image_is_where_the_latents_start(cli, tmp_path):
    from tests.vqgan_clip_helpers import TinyVQGAN
    from artengine.plugins.clip_guided.images import load_image, to_tensor

    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "init.png")
    image = generate(cli, "blue", "--set", f"generator.init_image={tmp_path / 'init.png'}", "--set", "generator.lr=0",
                     steps=1)["images"][0]["path"]
    vqgan = TinyVQGAN()
    with torch.no_grad():
        expected = vqgan.decode(vqgan.encode(to_tensor(load_image(str(tmp_path / "init.png"), (64, 64), "t"))[None]))
    made = to_tensor(Image.open(image).convert("RGB"))
    assert (made - expected[0]).abs().max() <= 1 / 255 + 1e-6


def test_init_weight_keeps_the_image_near_the_init_image(cli, tmp_path):
    Image.new("RGB", (64, 64), (30, 30, 220)).save(tmp_path / "init.png")
    init = ["--set", f"generator.init_image={tmp_path / 'init.png'}"]
    free = generate(cli, "red", *init, steps=20)["images"][0]["path"]
    held = generate(cli, "red", *init, "--set", "generator.init_weight=50", steps=20)["images"][0]["path"]
    assert redness(held) < redness(free) - 20


def test_learning_rate_decays_exponentially_to_its_last_share():
    from artengine.plugins.clip_guided.loop import learning_rate
    from types import SimpleNamespace

    settings = SimpleNamespace(lr=0.2, lr_decay=0.25, steps=5)
    rates = [learning_rate(settings, step) for step in range(5)]
    assert rates[0] == pytest.approx(0.2) and rates[-1] == pytest.approx(0.05)
    assert rates[2] == pytest.approx(0.1)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_both_optimisers_and_bf16_run(cli, optimizer):
    summary = generate(cli, "red", "--set", f"generator.optimizer={optimizer}", "--set", "generator.precision=bf16",
                       "--set", "generator.lr_decay=0.5", steps=2)
    assert summary["status"] == "complete"
