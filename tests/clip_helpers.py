"""A tiny random CLIP in artengine's folder layout, for the scorer and eval tests."""

import json

import torch

from artengine.plugins.clip.model import build_network

TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_model(folder, seed):
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    network = build_network(TINY_CFG)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG}))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"clip:{folder}"
