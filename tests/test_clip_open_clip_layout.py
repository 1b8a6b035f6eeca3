"""CLIP folders are in open_clip's hub layout: plain open_clip loads them as they are.

Each test loads a folder with open_clip's own `local-dir:` API (no artengine code) and checks
that its tokenizer, text embeddings and image embeddings are artengine's, bit for bit.
"""

import json
from pathlib import Path

import open_clip
import pytest
import torch

import artengine
import artengine.plugins.clip
from artengine.plugins.clip.model import build_network, images_to_tensor

SHIPPED = Path(artengine.plugins.clip.__file__).parent / "weights" / "shapes"
TEXTS = ["a red circle", "a large blue square on the left of a small green triangle"]
TINY = ["--width", 32, "--layers", 1, "--text-width", 32, "--text-layers", 1, "--embed-dim", 16,
        "--context-length", 12, "--image-size", 32, "--patch-size", 8, "--batch-size", 4, "--warmup", 1]


@pytest.fixture(autouse=True)
def clip_plugin(host):
    host.add(artengine.plugins.clip, name="clip")


def open_clip_model(folder: Path):
    """The folder as an open_clip user loads it (eval mode: create_model_and_transforms trains)."""
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    return model.eval().requires_grad_(False), preprocess, open_clip.get_tokenizer(f"local-dir:{folder}")


def pictures(size: int, count: int = 3):
    from PIL import Image, ImageDraw

    images = []
    for index in range(count):
        image = Image.new("RGB", (size, size), (20 * index, 40, 90))
        ImageDraw.Draw(image).ellipse((4 + index, 6, size - 5, size - 3 - index), fill=(230, 60 + 50 * index, 40))
        images.append(image)
    return images


def assert_same_embeddings(folder: Path, spec: str, context_length: int, image_size: int):
    model, preprocess, tokenizer = open_clip_model(folder)
    ours = artengine.load_model(spec)
    images = pictures(image_size)

    assert tokenizer.context_length == context_length
    assert torch.equal(tokenizer(TEXTS), ours.tokenizer(TEXTS))
    with torch.no_grad():
        text = model.encode_text(tokenizer(TEXTS), normalize=True)
        image = model.encode_image(torch.stack([preprocess(picture) for picture in images]), normalize=True)
        assert torch.equal(text, ours.encode_text(TEXTS))
        assert torch.equal(image, ours.encode_image(images_to_tensor(images)))


def test_the_shipped_clip_shapes_folder_loads_in_plain_open_clip():
    assert {"open_clip_config.json", "open_clip_model.safetensors"} <= {p.name for p in SHIPPED.iterdir()}
    assert_same_embeddings(SHIPPED, "clip:shapes", context_length=32, image_size=64)


def test_a_freshly_trained_folder_loads_in_plain_open_clip(cli, builtin_plugins, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "clip", "--data", "shapes", "--data-count", 8, "--out", out, "--steps", 2, *TINY)
    assert result.exit_code == 0, result.output

    assert sorted(p.name for p in out.iterdir()) == [
        ".artengine-folder", "checkpoints", "open_clip_config.json", "open_clip_model.safetensors"]
    assert_same_embeddings(out, f"clip:{out}", context_length=12, image_size=32)


def test_a_folder_not_in_open_clips_layout_is_one_line(tmp_path):
    """Only open_clip's own names are read: a config.json beside model.safetensors is not a CLIP folder."""
    from safetensors.torch import save_file

    config = json.loads((SHIPPED / "open_clip_config.json").read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in build_network(config["model_cfg"]).state_dict().items()},
              str(tmp_path / "other" / "model.safetensors"))

    with pytest.raises(artengine.UsageError, match="has no open_clip_config.json"):
        artengine.load_model(f"clip:{tmp_path / 'other'}")
