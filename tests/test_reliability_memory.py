"""Memory: a request that cannot fit is refused up front, from an estimate, saying what to lower;
running out of memory during a run saves what exists and says what to lower."""

import json
import time
from pathlib import Path

import pytest
import torch

import artengine
import artengine.plugins.clip
import artengine.plugins.dalle
import artengine.plugins.losses
import artengine.plugins.vqgan
import artengine.plugins.clip_guided
from artengine import Candidate, Generator
from artengine.errors import UsageError
from artengine.memory import check_fits, free_bytes, out_of_memory, saved_activation_bytes
from tests.dalle_helpers import make_checkpoint
from tests.published_models import SMALL_CLIP, SMALL_DDCONFIG, write_open_clip_folder, write_taming_checkpoint


@pytest.fixture(autouse=True)
def real_plugins(host):
    import tests.dalle_helpers as helpers

    for module, name in [(artengine.plugins.vqgan, "vqgan"), (artengine.plugins.clip, "clip"), (artengine.plugins.clip_guided, "clip_guided"),
                         (artengine.plugins.losses, "losses"), (artengine.plugins.dalle, "dalle"), (helpers, "tinyvq"),
                         (MemoryHungry(), "hungry")]:
        host.add(module, name=name)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    (folder / "clip").mkdir()
    return write_taming_checkpoint(folder, SMALL_DDCONFIG, 64, 16), write_open_clip_folder(folder / "clip", SMALL_CLIP)


def test_the_cpu_reports_its_free_memory():
    free = free_bytes("cpu")
    assert free is not None and 10 * 2**20 < free < 2**50


def test_check_fits_refuses_with_what_to_lower():
    check_fits(2**20, "cpu", "--size")
    with pytest.raises(UsageError) as refused:
        check_fits(2**60, "cpu", "--size, -n or generator.cutn", "vqgan-clip at 8192x8192")
    message = str(refused.value)
    assert message.startswith("vqgan-clip at 8192x8192 needs about 1073741824.0 GiB of memory, but cpu has ")
    assert message.endswith("GiB free; lower --size, -n or generator.cutn")


def test_saved_activations_grow_with_the_batch():
    layer = torch.nn.Linear(8, 8)

    def run(batch):
        inputs = torch.ones(batch, 8, requires_grad=True)
        return saved_activation_bytes(lambda: torch.tanh(layer(inputs)), exclude=layer.parameters())

    assert run(10) == 10 * run(1) > 0


def vqgan_clip(cli, models, *extra):
    vqgan, clip = models
    return cli("generate", "red", "-g", "vqgan-clip", "--seed", "1", "--scorer", "none",
               "--set", f"generator.vqgan={vqgan}", "--set", f'generator.clip=["{clip}"]',
               "--set", "generator.steps=1", *extra)


@pytest.mark.parametrize("extra", [
    ["--size", "8192x8192", "-n", "64"],
    ["--size", "64x64", "-n", "1000", "--set", "generator.cutn=1024"],
    ["--size", "2048x2048", "-n", "100"],
], ids=["size", "cutn", "batch"])
def test_an_absurd_vqgan_clip_request_is_refused_up_front(cli, models, tmp_path, extra):
    started = time.perf_counter()
    result = vqgan_clip(cli, models, *extra)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("artengine: error: vqgan-clip at ") and " needs about " in line
    assert line.endswith("GiB free; lower --size, -n or generator.cutn") and "\n" not in line
    assert not (tmp_path / "outputs").exists()


def test_a_normal_vqgan_clip_request_passes_the_estimate(cli, models):
    result = vqgan_clip(cli, models, "--size", "64x64", "-n", "2", "--set", "generator.cutn=4")
    assert result.exit_code == 0, result.output


def test_the_vqgan_clip_estimate_grows_with_size_count_and_cutouts(models):
    from artengine.plugins.clip_guided.memory import estimate_bytes
    from artengine.plugins.clip_guided.specs import read_settings

    vqgan, clip = artengine.load_model(models[0], "cpu"), artengine.load_model(models[1], "cpu")
    options = {option.name: option.default for option in artengine.plugins.clip_guided.OPTIONS} | {"cutn": 8}

    def need(size, count, cutn=8):
        settings = read_settings(options | {"cutn": cutn, "vqgan": models[0], "clip": [models[1]]})
        request = artengine.Request(artengine.parse_prompt("red"), tuple(range(count)), size, "cpu", options)
        return estimate_bytes(request, settings, vqgan, [clip])

    base = need((64, 64), 1)
    assert need((64, 64), 4) == pytest.approx(4 * base)
    assert need((128, 128), 1) > 3 * base  # four times the pixels (the CLIP part stays)
    assert need((64, 64), 1, cutn=32) - base == pytest.approx(3 * (need((64, 64), 1, cutn=16) - base))


def test_an_absurd_dalle_batch_is_refused_up_front(cli, tmp_path):
    folder = make_checkpoint(tmp_path / "model")
    result = cli("generate", "a red square", "-g", "dalle", "--set", f"generator.model=dalle:{folder}",
                 "-n", "100000", "--set", "generator.batch_size=100000", "--set", "generator.guidance=3")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("artengine: error: dalle with 100000 candidates at once needs about ")
    assert line.endswith("lower generator.batch_size (or -n)")
    assert not (tmp_path / "outputs").exists()


# -- out of memory during a run -------------------------------------------------------------


class Hungry(Generator):
    """Makes one image per prompt, and runs out of memory on prompts that say 'huge'."""

    name = "hungry"
    description = "Raises torch.cuda.OutOfMemoryError on prompts that say 'huge'."
    memory_hint = "generator.appetite"

    def generate(self, request, progress):
        from PIL import Image

        if "huge" in request.prompt.text:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return [Candidate(Image.new("RGB", request.size, (200, 0, 0)), seed) for seed in request.seeds]


class MemoryHungry:
    @artengine.hookimpl
    def register_generators(self, register):
        register(Hungry)


def test_out_of_memory_is_recognised():
    assert out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert out_of_memory(MemoryError())
    assert not out_of_memory(RuntimeError("shape mismatch"))


def test_out_of_memory_during_a_run_keeps_the_images_so_far_and_says_what_to_lower(cli, tmp_path):
    (tmp_path / "prompts.txt").write_text("red\nsomething huge\nblue\n")
    result = cli("generate", "--prompts", "prompts.txt", "-g", "hungry", "-n", "2", "--seed", "1", "--json",
                 "--scorer", "none")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "artengine: error: cpu ran out of memory in generator 'hungry' on prompt 'something huge' "
        "(images made before it are saved); lower --size, -n or generator.appetite"
    )
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and [i["prompt"] for i in document["images"]] == ["red", "red"]
    assert all(Path(i["path"]).is_file() for i in document["images"])
    run = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    assert run["status"] == "failed" and "ran out of memory" in run["error"]
