"""vqgan-clip on models in the published formats, loaded by the real `vqgan` and `clip` loaders.

The files are written here with random weights: a taming checkpoint in the published Lightning
layout (`state_dict`, with a .yaml config beside it) and an open_clip Hugging Face folder
(`open_clip_config.json` + `open_clip_pytorch_model.bin`). The fast tests use small
architectures; the slow one the published imagenet f16-16384 VQGAN and ViT-B-32.
"""

import pytest
import torch

import artengine.plugins.clip
import artengine.plugins.losses
import artengine.plugins.vqgan
import artengine.plugins.clip_guided
from tests.published_models import SMALL_CLIP, SMALL_DDCONFIG, write_open_clip_folder, write_taming_checkpoint
from tests.vqgan_clip_helpers import run_json

F16_DDCONFIG = {"double_z": False, "z_channels": 256, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [16], "dropout": 0.0}


@pytest.fixture(autouse=True)
def real_plugins(host):
    for module, name in [(artengine.plugins.vqgan, "vqgan"), (artengine.plugins.clip, "clip"), (artengine.plugins.clip_guided, "clip_guided"),
                         (artengine.plugins.losses, "losses")]:
        host.add(module, name=name)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published-small")
    (folder / "clip").mkdir()
    return write_taming_checkpoint(folder, SMALL_DDCONFIG, 64, 16), write_open_clip_folder(folder / "clip", SMALL_CLIP)


def generate(cli, vqgan, clips, *extra, steps=2, size="64x64"):
    clip_list = ", ".join(f'"{c}"' for c in clips)
    return cli("generate", "a red circle|blue:-0.5", "-g", "vqgan-clip", "-n", "2", "--seed", "1", "--size", size,
               "--json", "--scorer", "none", "--set", f"generator.vqgan={vqgan}", "--set", f"generator.clip=[{clip_list}]",
               "--set", f"generator.steps={steps}", "--set", "generator.cutn=4", *extra)


def test_a_taming_checkpoint_and_an_open_clip_folder_make_images(cli, small_models):
    vqgan, clip = small_models
    summary = run_json(generate(cli, vqgan, [clip], "--loss", "tv:0.1"))
    from PIL import Image

    assert [Image.open(i["path"]).size for i in summary["images"]] == [(64, 64)] * 2


def test_the_taming_decoder_output_goes_through_the_gradient_keeping_clamp(small_models):
    import artengine
    from artengine.plugins.clip_guided.latents import decode

    model = artengine.load_model(small_models[0], "cpu")
    z = model.embed(torch.zeros(1, 4, 4, dtype=torch.long)).clone().requires_grad_(True)
    images = decode(model, z)
    assert torch.allclose(images, model.decode_latents(z), atol=1e-6)
    images.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_several_open_clip_models_with_weights_guide_together(cli, small_models, tmp_path):
    vqgan, clip = small_models
    other = dict(SMALL_CLIP, vision_cfg=dict(SMALL_CLIP["vision_cfg"], image_size=48))
    (tmp_path / "other").mkdir()
    second = write_open_clip_folder(tmp_path / "other", other)
    assert run_json(generate(cli, vqgan, [clip, f"{second}:0.5"]))["status"] == "complete"


def test_sizes_off_the_checkpoints_factor_are_refused(cli, small_models):
    vqgan, clip = small_models
    result = generate(cli, vqgan, [clip], size="68x64")
    assert result.exit_code == 2 and "steps of 8 pixels" in result.output


@pytest.mark.slow
def test_the_published_f16_16384_and_vit_b_32_architectures_run(cli, tmp_path):
    import open_clip

    config = open_clip.get_model_config("ViT-B-32")
    (tmp_path / "clip").mkdir()
    vqgan = write_taming_checkpoint(tmp_path, F16_DDCONFIG, 16384, 256)
    clip = write_open_clip_folder(tmp_path / "clip", config, half=True)
    summary = run_json(generate(cli, vqgan, [clip], steps=1, size="64x64"))
    assert len(summary["images"]) == 2
