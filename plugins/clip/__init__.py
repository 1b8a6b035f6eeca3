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


def _openai(model: str, repo: str, size: str) -> dict:
    """OpenAI's CLIP weights as open_clip publishes them on the Hub (its pretrained tag `openai`)."""
    return {"description": f"OpenAI CLIP {model} (pixray's CLIP models)", "size": size, "licence": "MIT",
            "source": f"huggingface.co/{repo}",
            "parts": [{"repo": repo, "files": ["open_clip_config.json", "open_clip_model.safetensors"]}]}


# clip:NAME -> where it is published (plugins/hub fetches and verifies it; docs/models.md); the
# other open_clip tags still load through open_clip's own download
PUBLISHED = {
    "ViT-B-32@openai": _openai("ViT-B/32", "timm/vit_base_patch32_clip_224.openai", "~0.6 GB"),
    "ViT-B-16@openai": _openai("ViT-B/16", "timm/vit_base_patch16_clip_224.openai", "~0.6 GB"),
    "RN50@openai": _openai("RN50", "timm/resnet50_clip.openai", "~0.4 GB"),
}


class ClipLoader(ModelLoader):
    kind = "clip"
    description = "open_clip CLIP models: shipped shapes-world weights, published pretrained tags, local files."
    spec_forms = (
        "clip:shapes",
        "clip:MODEL@PRETRAINED (e.g. clip:ViT-B-32@laion2b_s34b_b79k; from the local cache, else downloaded)",
        "clip:MODEL@/path/to/open_clip_pytorch_model.bin (or .safetensors)",
        "clip:PATH (a folder in open_clip's layout, open_clip_config.json + weights, as `artengine train clip` writes)",
    )

    published = PUBLISHED

    def available(self) -> list[ModelInfo]:
        return [*(ModelInfo(f"clip:{name}", found.description, found.figures) for name, found in card.shipped_cards().items()),
                *(ModelInfo(f"clip:{name}", e["description"], {k: e[k] for k in ("size", "licence", "source")})
                  for name, e in PUBLISHED.items())]

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
