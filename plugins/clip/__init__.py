"""The `clip` plugin: open_clip CLIP models for artengine.

- model loader `clip:` (shipped `clip:shapes`, `clip:MODEL@PRETRAINED`, `clip:MODEL@/path/weights`,
  `clip:PATH`); see docs/clip.md and plugins/clip/model.py for the model interface;
- scorer `clip`: cosine similarity to the prompt's weighted parts, averaged over models;
- the trainer behind `artengine train clip`, and the command `artengine eval clip`.

This module imports neither torch nor open_clip: they load when a model or command is used.
"""

from __future__ import annotations

import artengine
from artengine import ModelInfo, ModelLoader, Option, Scorer

from . import card


class ClipLoader(ModelLoader):
    kind = "clip"
    description = "open_clip CLIP models: shipped shapes-world weights, published pretrained tags, local files."
    spec_forms = (
        "clip:shapes",
        "clip:MODEL@PRETRAINED (e.g. clip:ViT-B-32@laion2b_s34b_b79k; from the local cache, else downloaded)",
        "clip:MODEL@/path/to/open_clip_pytorch_model.bin (or .safetensors)",
        "clip:PATH (a folder in open_clip's layout, open_clip_config.json + weights, as `artengine train clip` writes)",
    )

    def available(self) -> list[ModelInfo]:
        return [ModelInfo(f"clip:{name}", found.description, found.figures) for name, found in card.shipped_cards().items()]

    def load(self, name: str, device: str):
        from .loading import load_clip

        return load_clip(name, device)


class ClipScorer(Scorer):
    name = "clip"
    description = "Cosine similarity between each image and the prompt's weighted parts, averaged over CLIP models."
    options = (
        Option("models", list, ["clip:shapes"], "CLIP model specs whose similarities are averaged."),
        Option("batch_size", int, 32, "Images encoded at once.", min=1),
    )

    def check(self):
        self._load()  # a model that does not load fails before any image is made

    def score(self, images, prompt):
        return self._load()(images, prompt)

    def _load(self):
        if not hasattr(self, "_similarity"):
            from .scoring import PromptSimilarity

            self._similarity = PromptSimilarity(self.settings["models"], self.device, self.settings["batch_size"])
        return self._similarity


@artengine.hookimpl
def register_model_loaders(register):
    register(ClipLoader())


@artengine.hookimpl
def register_scorers(register):
    register(ClipScorer)


@artengine.hookimpl
def register_trainers(register):
    from .train import ClipTrainer  # light: torch and open_clip load when training starts

    register(ClipTrainer)


@artengine.hookimpl
def register_commands(cli):
    from .eval_command import eval_clip

    cli.commands["eval"].add_command(eval_clip)
