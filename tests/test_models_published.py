"""The published names of the real plugins, end to end against a fake Hub on 127.0.0.1 serving
random-weight files in the published layouts: min-dalle's files for `dalle-bart:mega`, taming's
.ckpt + .yaml for `vqgan:imagenet-f16-16384`, diffusers folders for `unclip:kandinsky-2.2`."""

import json

import pytest
from PIL import Image

import artengine

pytest_plugins = ("tests.fake_hub", "tests.unclip_helpers")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_dalle(tmp_path_factory):
    """A tiny random DALL·E in min-dalle's layout, as kuprel/min-dalle names its "mega" files."""
    from artengine.plugins.dalle.bart.random_folder import write_random_folder

    root = tmp_path_factory.mktemp("min-dalle")
    model = write_random_folder(root, "tiny", seed=3, image_encoder=False)
    return {"vocab.json": model / "vocab.json", "merges.txt": model / "merges.txt", "encoder.pt": model / "encoder.pt",
            "decoder.pt": model / "decoder.pt", "detoker.pt": root / "vqgan" / "detoker.pt"}


@pytest.fixture
def hub_host(builtin_plugins):
    return builtin_plugins


def test_dalle_mega_downloads_verifies_and_draws_on_first_use_then_offline(hub_host, fake_hub, tiny_dalle, cli,
                                                                          monkeypatch, no_internet):
    fake_hub.add_repo("kuprel/min-dalle", {**tiny_dalle, "config.json": b"{}"})
    args = ("generate", "an avocado armchair", "-g", "dalle", "--set", "generator.model=dalle-bart:mega", "-n", "1",
            "--seed", "2", "--json")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    fetched = sorted(path.rsplit("/", 1)[1] for path, _ in fake_hub.downloads())
    assert fetched == ["decoder.pt", "detoker.pt", "encoder.pt", "merges.txt", "vocab.json"]
    [image] = json.loads(first.stdout)["images"]
    assert Image.open(image["path"]).size == (256, 256)

    asked = len(fake_hub.requests)
    artengine.models.clear_cache()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert Image.open(json.loads(again.stdout)["images"][0]["path"]).tobytes() == Image.open(image["path"]).tobytes()
    assert len(fake_hub.requests) == asked and no_internet == []


def test_an_uncached_published_model_offline_is_one_line(hub_host, fake_hub, cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("generate", "a cat", "-g", "dalle", "--set", "generator.model=dalle-bart:mini")
    assert result.exit_code == 2
    assert result.output.strip() == ("artengine: error: dalle-bart:mini is not downloaded and HF_HUB_OFFLINE is set; "
                                     "run `artengine models pull dalle-bart:mini` where there is internet (or unset "
                                     "HF_HUB_OFFLINE)")


def test_taming_checkpoint_and_yaml_over_plain_https(hub_host, fake_hub, cli, tmp_path, monkeypatch):
    import torch

    from artengine.plugins import vqgan
    from tests.published_models import SMALL_DDCONFIG, write_taming_checkpoint

    write_taming_checkpoint(tmp_path, SMALL_DDCONFIG, n_embed=64, embed_dim=16)
    urls = {"last.ckpt": fake_hub.add_url("last.ckpt", (tmp_path / "last.ckpt").read_bytes()),
            "last.yaml": fake_hub.add_url("model.yaml", (tmp_path / "last.yaml").read_bytes())}
    monkeypatch.setitem(vqgan.PUBLISHED, "imagenet-f16-16384",
                        {**vqgan.PUBLISHED["imagenet-f16-16384"], "parts": [{"urls": urls}]})
    pulled = cli("models", "pull", "vqgan:imagenet-f16-16384")
    assert pulled.exit_code == 0, pulled.output
    model = artengine.load_model("vqgan:imagenet-f16-16384")
    assert model.n_embed == 64 and model.decode(model.encode(torch.rand(1, 3, 64, 64))).shape == (1, 3, 64, 64)


def test_kandinsky_from_two_hub_repositories_draws(hub_host, fake_hub, cli, tmp_path):
    from tests.unclip_helpers import make_kandinsky

    prior, decoder = make_kandinsky(tmp_path / "k")
    fake_hub.add_folder("kandinsky-community/kandinsky-2-2-prior", prior)
    fake_hub.add_folder("kandinsky-community/kandinsky-2-2-decoder", decoder)
    result = cli("generate", "a red circle", "-g", "unclip", "--set", "generator.model=unclip:kandinsky-2.2",
                 "--set", "generator.prior_steps=2", "--set", "generator.decoder_steps=2", "--size", "32x32",
                 "--set", "generator.precision=fp32", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    assert Image.open(json.loads(result.stdout)["images"][0]["path"]).size == (32, 32)
