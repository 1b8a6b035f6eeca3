"""Built-in plugin `vqgan`: taming-transformers VQGAN models, their training and evaluation.

Registers the model loader for `vqgan:` specs, the trainer behind `artengine train vqgan` and
the command `artengine eval vqgan`. This module stays light (no torch, no taming): the heavy
code lives in the sibling modules and is imported when a model is loaded or a command runs.
"""

from __future__ import annotations

import artengine
from artengine import ModelInfo, ModelLoader

__version__ = "0.1.0"


class VQGANLoader(ModelLoader):
    kind = "vqgan"
    description = "taming-transformers VQGAN image tokenizers (encode images to codes, decode codes to images)"
    spec_forms = (
        "vqgan:shapes  (shipped: 64x64 images to 8x8 codes)",
        "vqgan:DIR  (model.safetensors + config.json, as `artengine train vqgan` writes)",
        "vqgan:PATH.ckpt  (published taming checkpoint, PATH.yaml beside it)",
        "vqgan:PATH.ckpt@CONFIG.yaml  (taming checkpoint with its config given)",
    )

    def available(self) -> list[ModelInfo]:
        from .loading import shipped_card

        card = shipped_card("shapes")
        if card is None:
            return []
        return [ModelInfo("vqgan:shapes", card.get("description", "VQGAN trained on the shapes world"), card.get("figures", {}))]

    def load(self, name: str, device: str):
        from .loading import load_vqgan

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
