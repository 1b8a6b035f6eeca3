"""The checkpoint folder and `dalle:` specs: self-contained, and refused when its VQGAN changed."""

import json

import pytest
import torch

import artengine
from artengine.plugins.dalle.checkpoint import weights_hash
from tests.dalle_helpers import make_checkpoint


def test_a_checkpoint_folder_holds_config_weights_tokenizer_settings_and_card(dalle_host, tmp_path):
    folder = make_checkpoint(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "artengine_dalle.json", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    config = json.loads((folder / "artengine_dalle.json").read_text())
    assert config["vqgan"]["spec"] == "tinyvq:32" and len(config["vqgan"]["weights_hash"]) == 64
    assert "## Model" in (folder / "README.md").read_text()


def test_dalle_path_loads_the_same_transformer_that_was_saved(dalle_host, tmp_path):
    make_checkpoint(tmp_path / "a", seed=1)
    make_checkpoint(tmp_path / "b", seed=1)
    first, second = artengine.load_model(f"dalle:{tmp_path / 'a'}"), artengine.load_model(f"dalle:{tmp_path / 'b'}")
    assert weights_hash(first.lm) == weights_hash(second.lm)
    assert first.image_size == (64, 64) and first.vqgan.factor == 8
    assert not first.lm.training and first.lm.embedding is first.lm.gpt.lm_head.weight  # tied after loading


def test_weights_hash_is_stable_and_sees_any_change():
    layer = torch.nn.Linear(3, 2)
    before = weights_hash(layer)
    assert weights_hash(layer) == before
    with torch.no_grad():
        layer.bias[0] += 1e-3
    assert weights_hash(layer) != before


def test_a_checkpoint_whose_vqgan_weights_changed_is_refused(dalle_host, tmp_path):
    folder = make_checkpoint(tmp_path / "model", vqgan_spec="tinyvq:32")
    config = json.loads((folder / "artengine_dalle.json").read_text())
    config["vqgan"]["spec"] = "tinyvq:32-s7"  # same shape, other weights
    (folder / "artengine_dalle.json").write_text(json.dumps(config))
    with pytest.raises(artengine.UsageError, match="was trained on the codes of VQGAN 'tinyvq:32-s7'"):
        artengine.load_model(f"dalle:{folder}")


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "model.safetensors").write_bytes(b"not safetensors"), "not a readable safetensors"),
    (lambda f: (f / "artengine_dalle.json").write_text('{"format": "other"}'), "not a dalle checkpoint config"),
    (lambda f: (f / "config.json").write_text('{"model_type": "bert"}'), "not a transformers GPT-2 config"),
    (lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer.json"),
])
def test_damaged_checkpoints_fail_with_a_clear_message(dalle_host, tmp_path, damage, message):
    folder = make_checkpoint(tmp_path / "model")
    damage(folder)
    with pytest.raises(artengine.UsageError, match=message):
        artengine.load_model(f"dalle:{folder}")


def test_unknown_folder_and_missing_shipped_model_say_what_to_give(dalle_host, tmp_path, monkeypatch):
    with pytest.raises(artengine.UsageError, match="no such folder"):
        artengine.load_model(f"dalle:{tmp_path / 'absent'}")
    import artengine.plugins.dalle.checkpoint as checkpoint

    monkeypatch.setitem(checkpoint.SHIPPED, "shapes", tmp_path / "not-installed")
    with pytest.raises(artengine.UsageError, match="not installed"):
        artengine.load_model("dalle:shapes")
