"""Bad input to the real generators, scorer and losses: one clear line, a non-zero exit, no
traceback, nothing left in --out, and no code run from a malicious file.

The models are tiny random-weight files in the published formats, loaded by the real `vqgan`,
`clip` and `dalle` loaders (see tests/published_models.py and tests/dalle_helpers.py).
"""

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

import artengine.plugins.clip
import artengine.plugins.dalle
import artengine.plugins.losses
import artengine.plugins.vqgan
import artengine.plugins.clip_guided
from tests.dalle_helpers import make_checkpoint
from tests.published_models import SMALL_CLIP, SMALL_DDCONFIG, write_open_clip_folder, write_taming_checkpoint

MARKER = "pwned-marker"


class RunsCode:
    """Unpickling this would create MARKER in the working directory."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Good model files, made once: a taming VQGAN (.ckpt + .yaml), an open_clip folder, a dalle folder."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "clip").mkdir()
    vqgan = write_taming_checkpoint(folder, SMALL_DDCONFIG, 64, 16)
    clip = write_open_clip_folder(folder / "clip", SMALL_CLIP)
    return {"vqgan": vqgan[len("vqgan:"):], "clip": clip[len("clip:"):], "root": folder}


@pytest.fixture(autouse=True)
def real_plugins(host):
    import tests.dalle_helpers as helpers

    for module, name in [(artengine.plugins.vqgan, "vqgan"), (artengine.plugins.clip, "clip"), (artengine.plugins.clip_guided, "clip_guided"),
                         (artengine.plugins.losses, "losses"), (artengine.plugins.dalle, "dalle"), (helpers, "tinyvq")]:
        host.add(module, name=name)
    torch.set_num_threads(1)


# -- ways to spoil a file ------------------------------------------------------------------


def missing(path: Path) -> None:
    path.unlink() if path.is_file() else shutil.rmtree(path)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_a_checkpoint(path: Path) -> None:
    path.write_text("these are my holiday notes, not weights\n" * 30)


def malicious(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": RunsCode()}, path)


def raw_malicious_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"state_dict": RunsCode()}))


SPOILERS = {"missing": missing, "empty": empty, "truncated": truncated, "not-a-checkpoint": not_a_checkpoint,
            "malicious": malicious, "raw-pickle": raw_malicious_pickle}
IMAGE_SPOILERS = {"missing": missing, "empty": empty, "truncated": truncated,
                  "not-an-image": lambda path: path.write_text("GIF89a? no, just text\n" * 10)}


def copy_models(models, tmp_path) -> dict:
    """A private copy of the good files, for a test to spoil."""
    shutil.copytree(models["root"], tmp_path / "m")
    return {"vqgan": tmp_path / "m" / Path(models["vqgan"]).name, "clip": tmp_path / "m" / "clip"}


def init_image(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    return path


def vqgan_clip(vqgan, clip, *extra):
    return ["generate", "red", "-g", "vqgan-clip", "--seed", "1", "--scorer", "none", "--size", "64x64",
            "--set", f"generator.vqgan=vqgan:{vqgan}", "--set", f'generator.clip=["clip:{clip}"]',
            "--set", "generator.steps=1", "--set", "generator.cutn=2", *extra]


def assert_one_clear_line(result, code, says, tmp_path):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("artengine: error: ") and says in lines[0], lines[0]
    assert "Traceback" not in result.output
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir()), list(outputs.rglob("*"))
    assert not (tmp_path / MARKER).exists()


# -- the table -------------------------------------------------------------------------------

OPTION_CASES = [
    (["--size", "68x64"], "steps of 8 pixels; use e.g. 64x64"),
    (["--size", "0x64"], "each side must be between 1 and 8192"),
    (["--size", "-64x64"], "each side must be between 1 and 8192"),
    (["--size", "100000x64"], "each side must be between 1 and 8192"),
    (["--set", "generator.cutn=0"], "generator.cutn: 0 is below the minimum 1"),
    (["--set", "generator.steps=-1"], "generator.steps: -1 is below the minimum 1"),
    (["--set", "generator.steps=many"], "generator.steps: expected int, got str 'many'"),
    (["--set", "generator.lr=-0.5"], "generator.lr: -0.5 is below the minimum 0.0"),
    (["--set", "generator.cutnn=4"], "unknown option 'generator.cutnn' (did you mean 'generator.cutn'?)"),
    (["-n", "2", "--keep", "3", "--scorer", "clip"], "keep=3 is greater than n=2"),
    (["-n", "-1"], "n: -1 is below the minimum 1"),
    (["--loss", "symetry:1"], "unknown loss 'symetry' (did you mean 'symmetry'?)"),
    (["--loss", "tv:"], "--loss: bad weight '' in 'tv:'"),
    (["--set", "losses.tv.weight=1", "--set", "losses.tv.bogus=2"], "unknown option 'losses.tv.bogus'"),
    (["--set", "scorer.name=clipp"], "unknown scorer 'clipp' (did you mean 'clip'?)"),
    (["--device", "cuda"], "--device cuda:"),
]


@pytest.mark.parametrize("extra, says", OPTION_CASES, ids=[" ".join(c[0]) for c in OPTION_CASES])
def test_vqgan_clip_refuses_bad_options(cli, models, tmp_path, extra, says):
    if extra == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli(*vqgan_clip(models["vqgan"], models["clip"], *extra))
    assert_one_clear_line(result, 2, says, tmp_path)


PROMPT_CASES = [("", "no prompt given"), ("   ", "prompt is empty"), ("red:abc", "bad weight 'abc'"),
                ("red:", "bad weight '' in 'red:'"), (":1", "':1' has a weight but nothing before it"), ("red||blue", "part 2 is empty")]


@pytest.mark.parametrize("prompt, says", PROMPT_CASES, ids=[repr(c[0]) for c in PROMPT_CASES])
def test_malformed_prompts_are_refused(cli, models, tmp_path, prompt, says):
    args = vqgan_clip(models["vqgan"], models["clip"])
    args[1] = prompt
    assert_one_clear_line(cli(*args), 2, says, tmp_path)


def test_an_unknown_generator_names_the_closest(cli, tmp_path):
    assert_one_clear_line(cli("generate", "red", "-g", "vqgan-clp"), 2,
                          "unknown generator 'vqgan-clp' (did you mean 'vqgan-clip'?)", tmp_path)


VQGAN_FILE_CASES = {
    "missing": "does not exist", "empty": "is empty", "truncated": "truncated",
    "not-a-checkpoint": "truncated or", "malicious": "can run code", "raw-pickle": "can run code",
}


@pytest.mark.parametrize("how", VQGAN_FILE_CASES)
def test_a_bad_vqgan_checkpoint_is_one_line_and_runs_nothing(cli, models, tmp_path, how):
    files = copy_models(models, tmp_path)
    SPOILERS[how](files["vqgan"])
    result = cli(*vqgan_clip(files["vqgan"], files["clip"]))
    assert_one_clear_line(result, 2, VQGAN_FILE_CASES[how], tmp_path)
    assert files["vqgan"].name in result.stderr


CLIP_FILE_CASES = {
    "missing": "no shipped model, file or folder", "empty": "cannot be read safely", "truncated": "cannot be read safely",
    "not-a-checkpoint": "cannot be read safely", "malicious": "cannot be read safely", "raw-pickle": "cannot be read safely",
}


@pytest.mark.parametrize("how", CLIP_FILE_CASES)
def test_a_bad_clip_checkpoint_is_one_line_and_runs_nothing(cli, models, tmp_path, how):
    files = copy_models(models, tmp_path)
    weights = files["clip"] / "open_clip_pytorch_model.bin"
    SPOILERS[how](files["clip"] if how == "missing" else weights)
    result = cli(*vqgan_clip(files["vqgan"], files["clip"]))
    assert_one_clear_line(result, 2, CLIP_FILE_CASES[how], tmp_path)


def test_a_bad_clip_scorer_model_is_refused_before_any_work(cli, models, tmp_path):
    files = copy_models(models, tmp_path)
    malicious(files["clip"] / "open_clip_pytorch_model.bin")
    result = cli("generate", "red", "-g", "solid", "--scorer", "clip", "-n", "2", "--keep", "1",
                 "--set", f'scorer.models=["clip:{files["clip"]}"]')
    assert_one_clear_line(result, 2, "cannot be read safely", tmp_path)


IMAGE_CASES = {"missing": "does not exist", "empty": "is not a readable image", "truncated": "is not a readable image",
               "not-an-image": "is not a readable image"}


@pytest.mark.parametrize("how", IMAGE_CASES)
@pytest.mark.parametrize("key", ["init_image", "image_prompts"])
def test_a_bad_image_for_vqgan_clip_is_one_line(cli, models, tmp_path, how, key):
    path = init_image(tmp_path)
    IMAGE_SPOILERS[how](path)
    value = json.dumps(str(path)) if key == "init_image" else json.dumps([str(path)])
    result = cli(*vqgan_clip(models["vqgan"], models["clip"], "--set", f"generator.{key}={value}"))
    assert_one_clear_line(result, 2, IMAGE_CASES[how], tmp_path)


# -- dalle -------------------------------------------------------------------------------------


def dalle(folder, *extra):
    return ["generate", "a red square", "-g", "dalle", "--seed", "1", "--set", f"generator.model=dalle:{folder}", *extra]


DALLE_FILE_CASES = {
    ("model.safetensors", "missing"): "lacks config.json or model.safetensors",
    ("model.safetensors", "empty"): "is not a readable safetensors file",
    ("model.safetensors", "truncated"): "is not a readable safetensors file",
    ("model.safetensors", "not-a-checkpoint"): "is not a readable safetensors file",
    ("model.safetensors", "malicious"): "is not a readable safetensors file",
    ("config.json", "empty"): "cannot be read",
    ("config.json", "truncated"): "cannot be read",
    ("config.json", "not-a-checkpoint"): "cannot be read",
    ("artengine_dalle.json", "truncated"): "cannot be read",
    ("tokenizer.json", "missing"): "has no tokenizer.json",
    ("tokenizer.json", "truncated"): "tokenizer.json",
}


@pytest.mark.parametrize("name, how", DALLE_FILE_CASES, ids=[f"{n}-{h}" for n, h in DALLE_FILE_CASES])
def test_a_bad_dalle_checkpoint_is_one_line_and_runs_nothing(cli, tmp_path, name, how):
    folder = make_checkpoint(tmp_path / "model")
    SPOILERS[how](folder / name)
    assert_one_clear_line(cli(*dalle(folder)), 2, DALLE_FILE_CASES[name, how], tmp_path)


def test_a_dalle_checkpoint_naming_a_malicious_vqgan_runs_nothing(cli, models, tmp_path):
    files = copy_models(models, tmp_path)
    malicious(files["vqgan"])
    folder = make_checkpoint(tmp_path / "model")
    config = json.loads((folder / "artengine_dalle.json").read_text())
    config["vqgan"]["spec"] = f"vqgan:{files['vqgan']}"
    (folder / "artengine_dalle.json").write_text(json.dumps(config))
    assert_one_clear_line(cli(*dalle(folder)), 2, "can run code", tmp_path)


DALLE_OPTION_CASES = [
    (["--size", "128x128"], "makes 64x64 images; use --size 64x64"),
    (["--set", "generator.batch_size=0"], "generator.batch_size: 0 is below the minimum 1"),
    (["--set", "generator.top_p=0"], "generator.top_p: 0.0 is below the minimum 0.01"),
    (["--set", "generator.temperature=-1"], "below the minimum 0.0"),
    (["--set", "generator.prime_rows=9", "--set", "generator.init_image=init.png"], "prime at most 7"),
    (["--set", "generator.model=vqgan:x"], "give a dalle checkpoint"),
    (["--set", "generator.model=dalle:nowhere"], "dalle:nowhere: no such folder"),
]


@pytest.mark.parametrize("extra, says", DALLE_OPTION_CASES, ids=[" ".join(c[0]) for c in DALLE_OPTION_CASES])
def test_dalle_refuses_bad_options(cli, tmp_path, extra, says):
    folder = make_checkpoint(tmp_path / "model")
    init_image(tmp_path)
    assert_one_clear_line(cli(*dalle(folder, *extra)), 2, says, tmp_path)


@pytest.mark.parametrize("how", IMAGE_CASES)
def test_a_bad_init_image_for_dalle_is_one_line(cli, tmp_path, how):
    folder = make_checkpoint(tmp_path / "model")
    path = init_image(tmp_path)
    IMAGE_SPOILERS[how](path)
    result = cli(*dalle(folder, "--set", f"generator.init_image={json.dumps(str(path))}"))
    assert_one_clear_line(result, 2, IMAGE_CASES[how], tmp_path)


# -- config files --------------------------------------------------------------------------


CONFIG_CASES = [
    ('n = 2\n[generator\nname = "dalle"\n', "is not valid TOML"),
    ('nn = 2\n', "unknown key 'nn' (did you mean 'n'?)"),
    ('n = "two"\n', "n: expected int, got str 'two'"),
    ('[generator]\nname = "vqgan-clip"\ncutn = 0\n', "generator.cutn: 0 is below the minimum 1"),
    ('[generator]\nname = "vqgan-clip"\nsteps = 1.5\n', "generator.steps: expected int, got float 1.5"),
    ('[losses.tv]\nweight = "heavy"\n', "losses.tv"),
]


@pytest.mark.parametrize("text, says", CONFIG_CASES, ids=[c[1] for c in CONFIG_CASES])
def test_bad_config_files_name_the_file_and_the_key(cli, models, tmp_path, text, says):
    (tmp_path / "run.toml").write_text(text)
    result = cli(*vqgan_clip(models["vqgan"], models["clip"], "--config", "run.toml"))
    assert_one_clear_line(result, 2, says, tmp_path)
    assert "run.toml" in result.stderr


def test_an_empty_or_binary_config_file_is_one_line(cli, models, tmp_path):
    (tmp_path / "run.toml").write_bytes(b"\xff\xfe\x00garbage")
    result = cli(*vqgan_clip(models["vqgan"], models["clip"], "--config", "run.toml"))
    assert_one_clear_line(result, 2, "run.toml", tmp_path)


# -- prompts longer than a model reads: cut to fit, with a warning saying how much -------------

LONG = "a red circle " + " ".join(["and a blue square"] * 20)


def test_a_prompt_longer_than_clips_context_is_cut_with_a_warning(cli, models, tmp_path):
    args = vqgan_clip(models["vqgan"], models["clip"])
    args[1] = LONG
    result = cli(*args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("artengine: warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "reads at most 30 tokens of text" in warnings[0] and "has 83, so its last 53 token(s) were cut" in warnings[0]


def test_a_prompt_longer_than_dalles_text_is_cut_with_a_warning(cli, tmp_path):
    folder = make_checkpoint(tmp_path / "model")
    args = dalle(folder, "-n", "2")
    args[1] = "a red square on the left a blue circle at the top"
    result = cli(*args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("artengine: warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "reads at most 8 tokens of text" in warnings[0] and "so its last 4 token(s) were cut" in warnings[0]


def test_a_prompt_that_fits_gives_no_warning(cli, tmp_path):
    result = cli(*dalle(make_checkpoint(tmp_path / "model")))
    assert result.exit_code == 0 and "warning" not in result.stderr


# -- files where a PNG with metadata, or a prompt file, is expected -----------------------------


def artengine_png(cli, tmp_path) -> Path:
    result = cli("generate", "red", "-g", "solid", "--seed", "1", "--json", "--out", "made")
    return Path(json.loads(result.stdout)["images"][0]["path"])


@pytest.mark.parametrize("how, says", [("empty", "is not a readable PNG image"),
                                       ("truncated", "is not a readable PNG image"),
                                       ("not-an-image", "is not a readable PNG image")])
def test_reproduce_refuses_a_spoilt_png(cli, tmp_path, how, says):
    png = tmp_path / "copy.png"
    png.write_bytes(artengine_png(cli, tmp_path).read_bytes())
    shutil.rmtree(tmp_path / "made")
    IMAGE_SPOILERS[how](png)
    assert_one_clear_line(cli("reproduce", png), 2, says, tmp_path)


@pytest.mark.parametrize("content, says", [(b"", "has no prompts"), (b"# only a comment\n\n", "has no prompts"),
                                           (b"\xff\xfe\x00\x01", "prompt file")])
def test_an_empty_or_binary_prompt_file_is_one_line(cli, tmp_path, content, says):
    (tmp_path / "prompts.txt").write_bytes(content)
    assert_one_clear_line(cli("generate", "--prompts", "prompts.txt", "-g", "solid"), 2, says, tmp_path)
