"""`artengine train unclip`: prior and decoder on the engine's loop, a loadable diffusers folder."""

import json

import pytest

pytest_plugins = ("tests.unclip_helpers",)

TINY = ("--data", "shapes", "--data-count", "16", "--width", "16", "--layers", "1", "--prior-layers", "1",
        "--prior-heads", "1", "--batch-size", "4", "--warmup", "0", "--sample-every", "0", "--threads", "1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained 3 steps, then resumed to 4 (module-scoped: the cache takes a while)."""
    from click.testing import CliRunner

    import artengine.cli
    import artengine.discovery

    out = tmp_path_factory.mktemp("train") / "run"
    runner = CliRunner()
    first = runner.invoke(artengine.cli.cli, ["train", "unclip", *TINY, "--out", str(out), "--steps", "3",
                                              "--checkpoint-every", "3"])
    resumed = runner.invoke(artengine.cli.cli, ["train", "unclip", *TINY, "--out", str(out), "--steps", "4",
                                                "--resume"])
    return out, first, resumed


def test_training_writes_a_loadable_folder_and_resumes(unclip_host, trained):
    out, first, resumed = trained
    assert first.exit_code == 0, first.output
    assert resumed.exit_code == 0 and "resuming from" in resumed.output, resumed.output
    config = json.loads((out / "artengine_unclip.json").read_text())
    assert config["training"]["step"] == 4 and config["clip"] == "clip:shapes" and config["vqgan"] == "vqgan:shapes"
    assert len(config["latents"]["mean"]) == 32 and all(s > 0 for s in config["latents"]["std"])
    card = (out / "README.md").read_text()
    assert "artengine train unclip" in card and "PriorTransformer" in card and "steps: 4" in card


def test_the_trained_folder_generates(unclip_host, trained, cli):
    out = trained[0]
    result = cli("generate", "a red circle", "-g", "unclip", "--set", f"generator.model=unclip:{out}",
                 "--set", "generator.decoder_steps=2", "--set", "generator.prior_steps=2", "--json")
    assert result.exit_code == 0, result.output


def test_the_prior_keeps_its_standardisation_fixed(unclip_host, trained):
    from diffusers import PriorTransformer

    prior = PriorTransformer.from_pretrained(trained[0], subfolder="prior")
    assert (prior.clip_std > 0).all() and prior.clip_mean.abs().sum() > 0  # measured on the data, not trained


def test_a_cache_made_for_other_data_is_refused_not_rebuilt(unclip_host, trained, cli, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained[0], out)
    shutil.rmtree(out / "checkpoints")  # the run's own folder, started afresh with other data
    result = cli("train", "unclip", *TINY[:2], "--data-count", "8", *TINY[4:], "--out", out, "--steps", "1")
    assert result.exit_code != 0 and "caches other data or models" in result.stderr
    assert (out / "cache" / "meta.json").is_file()


def test_weights_can_be_written_in_half_precision_and_load_as_float32(unclip_host, cli, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "half"
    result = cli("train", "unclip", *TINY, "--out", out, "--steps", "1", "--weights-dtype", "float16")
    assert result.exit_code == 0, result.output
    with safe_open(str(out / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float16"}
    from artengine.plugins.unclip.loading import load_unclip

    assert next(load_unclip(str(out), "cpu").unet.parameters()).dtype.is_floating_point
    assert str(next(load_unclip(str(out), "cpu").unet.parameters()).dtype) == "torch.float32"


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_the_written_model_is_the_moving_average_of_the_weights(unclip_host, cli, tmp_path, decay):
    """Sampling and the written folder use the EMA of the weights (the last step's with
    --ema-decay 0); the checkpoint keeps both, so a resumed run goes on averaging."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "run"
    result = cli("train", "unclip", *TINY, "--out", out, "--steps", "3", "--checkpoint-every", "3",
                 "--ema-decay", decay)
    assert result.exit_code == 0, result.output
    checkpoint = out / "checkpoints" / "step-00000003"
    trained = load_file(checkpoint / "model.safetensors")
    written = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    last = {name: trained[f"unet.{name}"] for name in written}
    same = all(torch.equal(written[name], last[name]) for name in written)
    assert same == (decay == 0.0)
    state = torch.load(checkpoint / "trainer.pt", weights_only=True)
    assert ("ema" in state) == (decay > 0)


def test_the_prior_and_the_decoder_read_the_caption_unless_told_not_to(unclip_host, trained, cli, tmp_path):
    """By default both read the caption's CLIP token states beside their embedding (DALL·E 2's
    prior and decoder); --no-captions trains Kandinsky 2.2's embeddings-only conditioning."""
    from diffusers import PriorTransformer, UNet2DConditionModel

    assert UNet2DConditionModel.load_config(trained[0] / "unet")["encoder_hid_dim_type"] == "text_image_proj"
    prior = PriorTransformer.load_config(trained[0] / "prior")
    assert prior["encoder_hid_proj_type"] == "linear" and prior["num_embeddings"] == 32  # clip:shapes' tokens
    assert "token states" in (trained[0] / "README.md").read_text()
    out = tmp_path / "image-only"
    result = cli("train", "unclip", *TINY, "--out", out, "--steps", "1", "--no-captions")
    assert result.exit_code == 0, result.output
    assert UNet2DConditionModel.load_config(out / "unet")["encoder_hid_dim_type"] == "image_proj"
    assert PriorTransformer.load_config(out / "prior")["encoder_hid_proj_type"] is None
    assert "token states" not in (out / "README.md").read_text()
    result = cli("generate", "a red circle", "-g", "unclip", "--set", f"generator.model=unclip:{out}",
                 "--set", "generator.decoder_steps=2", "--set", "generator.prior_steps=2", "--json")
    assert result.exit_code == 0, result.output


def test_init_starts_from_another_model_and_fresh_where_shapes_differ(unclip_host, trained, cli, tmp_path):
    """--init copies every tensor whose name and shape fit (here all: the same architecture), so
    one step at a tiny learning rate leaves the prior where it started."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "fine-tuned"
    result = cli("train", "unclip", *TINY, "--out", out, "--steps", "1", "--lr", "1e-9", "--ema-decay", "0",
                 "--init", f"unclip:{trained[0]}")
    assert result.exit_code == 0, result.output
    assert "started from" in result.output and "tensors copied" in result.output
    start = load_file(trained[0] / "prior" / "diffusion_pytorch_model.safetensors")
    now = load_file(out / "prior" / "diffusion_pytorch_model.safetensors")
    assert all(torch.allclose(now[name], start[name], atol=1e-5) for name in start)

    for wrong in ("clip:shapes", str(tmp_path / "no-such-folder")):
        refused = cli("train", "unclip", *TINY, "--out", tmp_path / "other", "--steps", "1", "--init", wrong)
        assert refused.exit_code == 2 and "--init" in refused.stderr, refused.output
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


@pytest.mark.parametrize("parts, learns, kept", [("prior", "prior", "unet"), ("decoder", "unet", "prior")])
def test_parts_trains_one_network_and_keeps_the_other_as_init_has_it(unclip_host, trained, cli, tmp_path,
                                                                       parts, learns, kept):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / parts
    result = cli("train", "unclip", *TINY, "--out", out, "--steps", "2", "--lr", "1e-2", "--ema-decay", "0",
                 "--parts", parts, "--init", f"unclip:{trained[0]}")
    assert result.exit_code == 0, result.output
    assert f"{'prior' if parts == 'prior' else 'decoder'} loss" in result.output

    def weights(folder, network):
        return load_file(folder / network / "diffusion_pytorch_model.safetensors")

    start, now = weights(trained[0], kept), weights(out, kept)
    assert all(torch.equal(now[name], start[name]) for name in start)
    start, now = weights(trained[0], learns), weights(out, learns)
    assert any(not torch.allclose(now[name], start[name]) for name in start)
    losses = json.loads((out / "artengine_unclip.json").read_text())["training"]["losses"]
    assert list(losses) == ["prior" if parts == "prior" else "decoder"]


def test_parts_without_init_is_one_line(unclip_host, cli, tmp_path):
    refused = cli("train", "unclip", *TINY, "--out", tmp_path / "run", "--steps", "1", "--parts", "prior")
    assert refused.exit_code == 2 and "--parts prior" in refused.stderr and "--init" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert not (tmp_path / "run").exists()
