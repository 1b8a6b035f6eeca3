"""The `clip:` model loader and the CLIP model interface.

Weights are random but laid out exactly as published: an open_clip state dict saved as
open_clip_pytorch_model.bin (torch) or .safetensors, a Hugging Face cache, a trained folder.
"""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import artengine
import artengine.plugins.clip
from artengine.plugins.clip import loading
from artengine.plugins.clip.model import build_network

TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def clip_plugin(host):
    host.add(artengine.plugins.clip, name="clip")


@pytest.fixture(scope="module")
def vit_b_32_file(tmp_path_factory):
    """The published ViT-B-32 architecture with random weights, saved as open_clip publishes it."""
    import open_clip

    torch.manual_seed(0)
    network = open_clip.create_model("ViT-B-32", pretrained=None)
    state = {name: value.half() for name, value in network.state_dict().items()}  # half: a smaller file
    del network
    path = tmp_path_factory.mktemp("vit-b-32") / "open_clip_pytorch_model.bin"
    torch.save(state, path)
    return path, state


def save_folder(folder: Path, model_cfg=TINY_CFG, preprocess=None, config_name="open_clip_config.json",
                weights_name="open_clip_model.safetensors", seed=0) -> torch.nn.Module:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    network = build_network(model_cfg)
    (folder / config_name).write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess or {}}))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(folder / weights_name))
    return network


def test_published_vit_b_32_weights_load_by_model_name(vit_b_32_file):
    path, state = vit_b_32_file
    model = artengine.load_model(f"clip:ViT-B-32@{path}")

    assert model.image_size == (224, 224)
    assert torch.equal(model.network.visual.conv1.weight.half(), state["visual.conv1.weight"])
    images = torch.rand(2, 3, 64, 80)  # any size: resized to the model's
    image_features = model.encode_image(images)
    text_features = model.encode_text(["a red circle", "a large blue square on the left"])
    assert image_features.shape == text_features.shape == (2, 512)
    assert torch.allclose(image_features.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(text_features.norm(dim=-1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("spec", ["clip:shapes", "vit-b-32"])
def test_token_states_hold_the_text_embedding_at_the_pooled_token(spec, vit_b_32_file):
    """encode_text_tokens keeps every token's state (a CaptionEncoder); the row open_clip pools
    (the end token) is encode_text's embedding, for the shipped model and the published layout."""
    model = artengine.load_model(spec if spec.startswith("clip:") else f"clip:ViT-B-32@{vit_b_32_file[0]}")
    texts = ["a red circle above a blue square", "a green triangle"]
    states = model.encode_text_tokens(texts)
    assert isinstance(model, artengine.CaptionEncoder)
    assert states.shape[:2] == (2, model.tokenizer.context_length)
    pooled = states[torch.arange(2), model.tokenizer(texts).argmax(-1)]
    assert torch.allclose(pooled, model.encode_text(texts), atol=1e-3)


def test_image_encoding_is_differentiable_with_respect_to_the_images(vit_b_32_file):
    model = artengine.load_model(f"clip:ViT-B-32@{vit_b_32_file[0]}")
    images = torch.rand(1, 3, 48, 48, requires_grad=True)

    model.encode_image(images).sum().backward()

    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.network.parameters())  # the model itself stays frozen


def test_size_mean_and_std_come_from_the_models_preprocess_config(tmp_path):
    network = save_folder(tmp_path / "odd", preprocess={"mean": [0.25, 0.5, 0.75], "std": [2.0, 1.0, 0.5]})
    model = artengine.load_model(f"clip:{tmp_path / 'odd'}")
    images = torch.rand(3, 3, 32, 32)

    mean = torch.tensor([0.25, 0.5, 0.75]).view(1, 3, 1, 1)
    std = torch.tensor([2.0, 1.0, 0.5]).view(1, 3, 1, 1)
    expected = torch.nn.functional.normalize(network.eval().encode_image((images - mean) / std), dim=-1)
    assert model.preprocess["mean"] == [0.25, 0.5, 0.75]
    assert model.image_size == (32, 32)
    assert torch.allclose(model.encode_image(images), expected, atol=1e-5)


def test_non_square_images_are_resized_as_the_config_says():
    from artengine.plugins.clip.model import fit_to_size

    wide = torch.rand(1, 3, 40, 80)
    assert fit_to_size(wide, (32, 32), "shortest", "bicubic").shape[-2:] == (32, 32)
    padded = fit_to_size(torch.ones(1, 3, 40, 80), (32, 32), "longest", "bilinear", fill=0)
    assert padded.shape[-2:] == (32, 32) and padded[..., 0, :].max() == 0  # top rows are padding
    assert fit_to_size(wide, (16, 24), "squash", "bilinear").shape[-2:] == (16, 24)


def test_a_hugging_face_folder_loads_as_a_path(tmp_path):
    save_folder(tmp_path / "hub")
    model = artengine.load_model(f"clip:{tmp_path / 'hub'}")
    assert model.encode_text(["a red circle"]).shape == (1, 16)


def test_a_weights_file_with_its_config_beside_it_loads_as_a_path(tmp_path):
    save_folder(tmp_path / "run")
    model = artengine.load_model(f"clip:{tmp_path / 'run' / 'open_clip_model.safetensors'}")
    assert model.encode_image(torch.rand(1, 3, 32, 32)).shape == (1, 16)


def test_a_pretrained_tag_is_found_in_the_local_cache_without_downloading(vit_b_32_file, tmp_path, monkeypatch):
    import huggingface_hub.constants
    import open_clip.pretrained

    repo = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    snapshot = tmp_path / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").symlink_to(vit_b_32_file[0])
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", lambda *a, **k: pytest.fail("downloaded"))

    model = artengine.load_model("clip:ViT-B-32@laion2b_s34b_b79k")

    tag_cfg = open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")
    assert list(model.preprocess["mean"]) == list(tag_cfg["mean"])
    assert model.encode_text(["a cat"]).shape == (1, 512)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_without_the_cache_or_internet_the_error_says_how_to_use_a_local_file(cli, empty_cache, monkeypatch):
    import socket

    def offline(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)

    result = cli("eval", "clip", "clip:ViT-B-32@laion2b_s34b_b79k")

    assert result.exit_code == 2
    message = result.output.strip()
    assert message.count("\n") == 0 and "Traceback" not in message
    assert "huggingface.co cannot be reached (Network is unreachable)" in message
    assert "clip:ViT-B-32@/path/to/open_clip_pytorch_model.bin" in message
    assert "https://huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message


def test_a_failed_download_is_reported_with_its_reason(empty_cache, monkeypatch):
    import socket

    import open_clip.pretrained

    class Connection:
        def close(self):
            pass

    def refused(*args, **kwargs):
        raise FileNotFoundError("403 Forbidden")

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Connection())
    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", refused)

    with pytest.raises(artengine.UsageError, match=r"downloading them failed \(403 Forbidden\).*clip:ViT-B-32@/path/to/"):
        artengine.load_model("clip:ViT-B-32@laion2b_s34b_b79k")


@pytest.mark.parametrize("name, words", [
    ("ViT-B-33@laion2b_s34b_b79k", ["not an open_clip model name", "ViT-B-32"]),
    ("ViT-B-32@laion2b_s34b", ["not a pretrained tag", "laion2b_s34b_b79k"]),
    ("ViT-B-32@/nowhere/weights.bin", ["does not exist"]),
    ("no-such-model", ["clip:shapes", "clip:MODEL@PRETRAINED"]),
])
def test_bad_specs_say_what_is_wrong(name, words):
    with pytest.raises(artengine.UsageError) as error:
        artengine.load_model(f"clip:{name}")
    for word in words:
        assert word in str(error.value)


def test_weights_of_another_architecture_are_refused_clearly(tmp_path):
    save_folder(tmp_path / "tiny")
    with pytest.raises(artengine.UsageError, match="does not fit this architecture"):
        artengine.load_model(f"clip:ViT-B-32@{tmp_path / 'tiny' / 'open_clip_model.safetensors'}")


def test_a_weights_file_without_config_asks_for_the_model_name(tmp_path):
    save_folder(tmp_path / "bare")
    (tmp_path / "bare" / "open_clip_config.json").unlink()
    with pytest.raises(artengine.UsageError, match=r"clip:MODEL@"):
        artengine.load_model(f"clip:{tmp_path / 'bare' / 'open_clip_model.safetensors'}")


class RunsCode:
    """Unpickling this creates the file `marker`: a stand-in for any code an attacker runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    pickle.loads(pickle.dumps(RunsCode(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()  # the payload does run when unpickled naively
    weights = tmp_path / "evil.bin"
    weights.write_bytes(pickle.dumps({"state_dict": {"visual.proj": RunsCode(tmp_path / "ran")}}, protocol=2))

    with pytest.raises(artengine.UsageError, match="cannot be read safely"):
        artengine.load_model(f"clip:ViT-B-32@{weights}")
    assert not (tmp_path / "ran").exists()


def test_loaded_models_are_cached_per_process(tmp_path):
    save_folder(tmp_path / "run")
    assert artengine.load_model(f"clip:{tmp_path / 'run'}") is artengine.load_model(f"clip:{tmp_path / 'run'}")


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, artengine.plugins.clip; assert 'torch' not in sys.modules and 'open_clip' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_list_models_shows_the_spec_forms(cli):
    result = cli("list", "models")
    assert result.exit_code == 0
    assert "clip:MODEL@PRETRAINED" in result.output and "clip:PATH" in result.output
