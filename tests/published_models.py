"""Random-weight models in the published file formats, for the tests of the real loaders.

A taming checkpoint in the published Lightning layout (`state_dict`, with a .yaml config beside
it) and an open_clip Hugging Face folder (`open_clip_config.json` + `open_clip_pytorch_model.bin`),
in small architectures.
"""

import contextlib
import io
import json

import torch

SMALL_DDCONFIG = {"double_z": False, "z_channels": 32, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
                  "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}
SMALL_CLIP = {"embed_dim": 32,
              "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
              "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}


def write_taming_checkpoint(folder, ddconfig, n_embed, embed_dim):
    """last.ckpt (weights under `state_dict`, with a loss entry and training bookkeeping) + last.yaml."""
    from taming.modules.diffusionmodules.model import Decoder, Encoder
    from taming.modules.vqvae.quantize import VectorQuantizer2

    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        parts = {"encoder": Encoder(**ddconfig), "decoder": Decoder(**ddconfig)}
    parts["quantize"] = VectorQuantizer2(n_embed, embed_dim, beta=0.25)
    parts["quant_conv"] = torch.nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
    parts["post_quant_conv"] = torch.nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)
    state = {f"{name}.{key}": value for name, part in parts.items() for key, value in part.state_dict().items()}
    state["loss.logvar"] = torch.zeros(())
    torch.save({"state_dict": state, "global_step": 1, "epoch": 0}, folder / "last.ckpt")
    params = {"embed_dim": embed_dim, "n_embed": n_embed, "ddconfig": ddconfig}
    (folder / "last.yaml").write_text(json.dumps({"model": {"target": "taming.models.vqgan.VQModel", "params": params}}))
    return f"vqgan:{folder / 'last.ckpt'}"


def write_open_clip_folder(folder, model_cfg, half=False):
    from open_clip.model import CLIP

    torch.manual_seed(0)
    state = CLIP(**model_cfg).state_dict()
    torch.save({k: v.half() if half else v for k, v in state.items()}, folder / "open_clip_pytorch_model.bin")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    return f"clip:{folder}"
