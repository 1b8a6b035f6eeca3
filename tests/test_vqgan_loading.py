"""The `vqgan:` loader: the spec forms it accepts, the model interface, and clear refusals."""

import json

import pytest
import torch

import artengine
import artengine.plugins.vqgan
from artengine import UsageError

from tests.vqgan_helpers import TINY_CONFIG as TINY, tiny_model, write_folder

@pytest.fixture(autouse=True)
def vqgan_plugin(host):
    host.add(artengine.plugins.vqgan, name="vqgan")


def test_a_trained_model_folder_loads_as_vqgan_dir(tmp_path):
    saved = write_folder(tmp_path / "run")
    model = artengine.load_model(f"vqgan:{tmp_path / 'run'}")
    assert torch.equal(model.codebook, saved.codebook)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_loaded_models_are_cached_per_spec(tmp_path):
    write_folder(tmp_path / "run")
    assert artengine.load_model(f"vqgan:{tmp_path / 'run'}") is artengine.load_model(f"vqgan:{tmp_path / 'run'}")


def test_the_interface_encode_embed_decode_fit_together():
    model = tiny_model().eval()
    images = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        codes = model.encode(images)
        latents = model.embed(codes)
        decoded = model.decode(codes)
    assert model.factor == 4
    assert codes.shape == (2, 8, 12) and codes.dtype == torch.long
    assert 0 <= codes.min() and codes.max() < model.n_embed
    assert latents.shape == (2, model.embed_dim, 8, 12)
    assert torch.equal(latents[1, :, 3, 5], model.codebook[codes[1, 3, 5]])
    assert decoded.shape == images.shape and 0 <= decoded.min() and decoded.max() <= 1
    assert torch.allclose(decoded, model.decode_latents(latents))


def test_encoding_picks_the_nearest_code_of_the_pre_quantization_latents():
    model = tiny_model().eval()
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        h = model.pre_quantization(images)
        codes = model.encode(images)
    distances = (h.permute(0, 2, 3, 1)[..., None, :] - model.codebook).pow(2).sum(-1)
    assert torch.equal(codes, distances.argmin(-1))


def test_decode_latents_is_differentiable_in_the_latents():
    model = tiny_model().eval().requires_grad_(False)
    z = torch.randn(1, model.embed_dim, 4, 4, requires_grad=True)
    model.decode_latents(z).mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_images_of_a_size_the_factor_does_not_divide_are_refused():
    with pytest.raises(UsageError, match="multiple of 4"):
        tiny_model().encode(torch.rand(1, 3, 30, 32))


def test_a_ckpt_config_can_be_given_explicitly(tmp_path):
    model = tiny_model()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "weights.ckpt")
    (tmp_path / "elsewhere.yaml").write_text(json.dumps(TINY))  # JSON is YAML
    loaded = artengine.load_model(f"vqgan:{tmp_path / 'weights.ckpt'}@{tmp_path / 'elsewhere.yaml'}")
    assert torch.equal(loaded.codebook, model.codebook)


def test_a_plain_state_dict_ckpt_with_its_yaml_beside_loads(tmp_path):
    model = tiny_model()
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    (tmp_path / "plain.yaml").write_text(json.dumps(TINY))
    assert torch.equal(artengine.load_model(f"vqgan:{tmp_path / 'plain.pt'}").codebook, model.codebook)


def bad_config(change):
    config = json.loads(json.dumps(TINY))
    change(config["model"]["params"])
    return config


@pytest.mark.parametrize(
    "setup, target, expected",
    [
        (lambda d: None, "gone.ckpt", "does not exist"),
        (lambda d: torch.save({"state_dict": {}}, d / "m.ckpt"), "m.ckpt", "no config beside the weights"),
        (lambda d: (d / "run").mkdir(), "run", "model.safetensors' is missing"),
        (lambda d: write_folder(d / "run", bad_config(lambda p: p.update(n_embed=0))), "run", "n_embed must be a positive integer"),
        (lambda d: write_folder(d / "run", bad_config(lambda p: p["ddconfig"].update(ch=48))), "run", "multiple of 32"),
        (lambda d: write_folder(d / "run", bad_config(lambda p: p["ddconfig"].update(double_z=True))), "run", "double_z must be false"),
        (lambda d: write_folder(d / "run", bad_config(lambda p: p.pop("ddconfig"))), "run", "ddconfig is missing"),
    ],
    ids=["missing", "no-yaml", "empty-folder", "bad-n-embed", "bad-ch", "double-z", "no-ddconfig"],
)
def test_bad_specs_and_files_get_clear_messages(tmp_path, setup, target, expected):
    setup(tmp_path)
    with pytest.raises(UsageError, match=expected):
        artengine.load_model(f"vqgan:{tmp_path / target}")


def test_weights_that_do_not_fit_the_config_are_named(tmp_path):
    write_folder(tmp_path / "run")
    other = bad_config(lambda p: p.update(n_embed=32))
    (tmp_path / "run" / "config.json").write_text(json.dumps(other))
    with pytest.raises(UsageError, match=r"it makes quantize.embedding.weight of shape \(32, 4\), the file holds \(16, 4\)"):
        artengine.load_model(f"vqgan:{tmp_path / 'run'}")


def test_an_unparsable_config_is_refused(tmp_path):
    write_folder(tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match="could not be parsed"):
        artengine.load_model(f"vqgan:{tmp_path / 'run'}")


def test_an_unknown_name_says_which_forms_exist():
    with pytest.raises(UsageError, match="give 'shapes'"):
        artengine.load_model("vqgan:imagenet")


def test_the_cli_reports_a_bad_spec_in_one_line(cli, tmp_path):
    result = cli("eval", "vqgan", f"vqgan:{tmp_path / 'nothing.ckpt'}", "--n", "1", "--data", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "does not exist" in result.output


def test_a_decoder_without_group_norm_keeps_taming_names_for_everything_else(tmp_path):
    from safetensors.torch import save_file

    plain = bad_config(lambda p: p["ddconfig"].update(decoder_norm="none"))
    plain["model"]["target"] = "artengine.plugins.vqgan.model.VQGAN"  # the variant's own target

    model = tiny_model(plain)
    keys = set(model.state_dict())
    assert not any(".norm" in key for key in keys if key.startswith("decoder."))
    assert any(".norm" in key for key in keys if key.startswith("encoder."))
    assert {"encoder.conv_in.weight", "decoder.conv_out.weight", "quantize.embedding.weight"} <= keys
    assert set(tiny_model().state_dict()) - keys == {k for k in tiny_model().state_dict() if ".norm" in k and k.startswith("decoder.")}
    (tmp_path / "run").mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "run" / "model.safetensors"))
    (tmp_path / "run" / "config.json").write_text(json.dumps(plain))
    loaded = artengine.load_model(f"vqgan:{tmp_path / 'run'}")
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.decode(loaded.encode(images)), model.eval().decode(model.encode(images)))


def test_an_unknown_norm_is_refused(tmp_path):
    write_folder(tmp_path / "run", bad_config(lambda p: p["ddconfig"].update(decoder_norm="batch")))
    with pytest.raises(UsageError, match="ddconfig.decoder_norm must be one of group, none"):
        artengine.load_model(f"vqgan:{tmp_path / 'run'}")


def test_networks_built_in_two_threads_at_once_each_get_their_own_norms():
    """Building a norm-free decoder swaps a global in taming's module; a network built at the same
    time in another thread (the web UI's workers) must still get its GroupNorms."""
    import threading
    import time

    from torch import nn

    from artengine.plugins.vqgan.model import taming_norm

    inside, release, seen = threading.Event(), threading.Event(), []

    def without_norms():
        with taming_norm("none"):
            inside.set()
            release.wait(5)

    def with_norms():
        inside.wait(5)
        with taming_norm("group"):
            from taming.modules.diffusionmodules import model

            seen.append(type(model.Normalize(32)))

    threads = [threading.Thread(target=without_norms), threading.Thread(target=with_norms)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the second build starts while the first still holds its swap
    release.set()
    for thread in threads:
        thread.join(10)
    assert seen == [nn.GroupNorm]
