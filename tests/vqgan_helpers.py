"""Helpers for the vqgan tests: the flags of a tiny VQGAN and the images it learns; a tiny
taming config and a folder of its weights."""

import json

import torch
from PIL import Image, ImageDraw

TINY = ["--image-size", "16", "--ch", "32", "--ch-mult", "1,1", "--num-res-blocks", "1", "--codebook-size", "8",
        "--embed-dim", "4", "--z-channels", "8", "--batch-size", "2", "--device", "cpu", "--threads", "1"]
COLOURS = [(220, 40, 40), (40, 170, 60), (40, 90, 220), (240, 220, 40)]


def square(index):
    image = Image.new("RGB", (16, 16), (0, 0, 0) if index % 2 else (255, 255, 255))
    ImageDraw.Draw(image).rectangle([3 + index % 4, 4, 10 + index % 4, 11], fill=COLOURS[index % 4])
    return image


# a tiny taming VQGAN config, and a folder of its weights (vqgan:DIR)
TINY_CONFIG = {
    "model": {
        "target": "taming.models.vqgan.VQModel",
        "params": {
            "n_embed": 16,
            "embed_dim": 4,
            "ddconfig": {
                "double_z": False, "z_channels": 8, "resolution": 32, "in_channels": 3, "out_ch": 3,
                "ch": 32, "ch_mult": [1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
            },
        },
    }
}


def tiny_model(config=TINY_CONFIG):
    from artengine.plugins.vqgan.config import config_from_dict
    from artengine.plugins.vqgan.model import VQGAN

    torch.manual_seed(0)
    return VQGAN(config_from_dict(config, "test"))


def write_folder(folder, config=TINY_CONFIG):
    """TINY's weights with `config` (a broken one, in some tests) beside them."""
    from safetensors.torch import save_file

    model = tiny_model()
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    return model
