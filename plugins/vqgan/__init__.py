"""Built-in plugin `vqgan`: taming-transformers VQGAN models, their training and evaluation.

Registers the model loader for `vqgan:` specs, the trainer behind `artengine train vqgan` and
the command `artengine eval vqgan`. This module stays light (no torch, no taming): the heavy
code lives in the sibling modules and is imported when a model is loaded or a command runs.
"""

from __future__ import annotations

import artengine
from artengine import ModelInfo, ModelLoader

__version__ = "0.1.0"


def _heibox(share: str) -> dict:
    """A taming checkpoint and its config where taming's README links them (heibox publishes no
    hash: the first download's sha256 is recorded and checked from then on)."""
    base = f"https://heibox.uni-heidelberg.de/d/{share}/files/?p=%2F"
    return {"urls": {"last.ckpt": f"{base}ckpts%2Flast.ckpt&dl=1", "last.yaml": f"{base}configs%2Fmodel.yaml&dl=1"}}


_TAMING = {"licence": "MIT", "source": "taming-transformers (heibox.uni-heidelberg.de)", "size": "~1 GB"}
# vqgan:NAME -> where taming's published VQGANs are (plugins/hub fetches them; docs/models.md).
PUBLISHED = {
    "imagenet-f16-1024": {"description": "taming VQGAN, ImageNet, f16, 1024 codes", **_TAMING,
                          "parts": [_heibox("8088892a516d4e3baf92")]},
    "imagenet-f16-16384": {"description": "taming VQGAN, ImageNet, f16, 16384 codes (pixray's default)", **_TAMING,
                           "parts": [_heibox("a7530b09fed84f80a887")]},
    "gumbel-f8-8192": {"description": "taming VQGAN, OpenImages, f8, 8192 codes, Gumbel quantization", **_TAMING,
                       "parts": [_heibox("2e5662443a6b4307b470")]},
    "openimages-f16-8192": {"description": "pixray's name for vqgan:gumbel-f8-8192 (the same files)", **_TAMING,
                            "parts": [_heibox("2e5662443a6b4307b470")]},
}


class VQGANLoader(ModelLoader):
    kind = "vqgan"
    description = "taming-transformers VQGAN image tokenizers (encode images to codes, decode codes to images)"
    spec_forms = (
        "vqgan:shapes  (shipped: 64x64 images to 8x8 codes)",
        "vqgan:imagenet-f16-16384 and the other published names below (fetched on first use, `artengine models pull`)",
        "vqgan:DIR  (model.safetensors + config.json, as `artengine train vqgan` writes)",
        "vqgan:PATH.ckpt  (published taming checkpoint, PATH.yaml beside it)",
        "vqgan:PATH.ckpt@CONFIG.yaml  (taming checkpoint with its config given)",
    )

    published = PUBLISHED

    def available(self) -> list[ModelInfo]:
        from .loading import shipped_card

        card = shipped_card("shapes")
        found = [ModelInfo(f"vqgan:{name}", e["description"], {k: e[k] for k in ("size", "licence", "source")})
                 for name, e in PUBLISHED.items()]
        if card is None:
            return found
        return [ModelInfo("vqgan:shapes", card.get("description", "VQGAN trained on the shapes world"),
                          card.get("figures", {})), *found]

    def load(self, name: str, device: str):
        from .loading import load_vqgan

        if name in PUBLISHED:  # the folder the hub plugin fetched and verified: last.ckpt + last.yaml
            name = str(artengine.load_model(f"hub:vqgan:{name}") / "last.ckpt")

        return load_vqgan(name, device)


@artengine.hookimpl
def register_model_loaders(register):
    register(VQGANLoader())


@artengine.hookimpl
def register_trainers(register):
    from .train import VQGANTrainer  # light: torch and taming load when training starts

    register(VQGANTrainer)


@artengine.hookimpl
def register_commands(cli):
    from .eval_command import add_commands  # click only: keeps `--help` fast

    add_commands(cli)
