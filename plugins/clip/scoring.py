"""The work behind the `clip` scorer: cosine similarity to the prompt's weighted parts."""

from __future__ import annotations

import torch

import artengine

from .model import images_to_tensor


class PromptSimilarity:
    """Scores images with one or more CLIP models, averaging their scores.

    An image's score under one model is sum(w * cos(image, part)) / sum(|w|) over the prompt's
    parts, so negative parts pull it down. Text embeddings are cached per model and text.
    """

    def __init__(self, specs: list[str], device: str, batch_size: int):
        if not specs:
            raise artengine.UsageError("scorer 'clip': option 'models' is empty; give at least one clip: spec")
        bad = [spec for spec in specs if not spec.startswith("clip:")]
        if bad:
            raise artengine.UsageError(f"scorer 'clip': models {bad} are not clip: specs (e.g. clip:shapes)")
        self.models = [artengine.load_model(spec, device, artengine.TextImageEncoder, "scorer 'clip': models")
                       for spec in specs]
        self.batch_size = batch_size
        self.text_cache: dict[tuple[str, str], torch.Tensor] = {}

    def text_features(self, model, texts: list[str]) -> torch.Tensor:
        missing = [text for text in dict.fromkeys(texts) if (model.spec, text) not in self.text_cache]
        if missing:
            for text, feature in zip(missing, model.encode_text(missing)):
                self.text_cache[model.spec, text] = feature
        return torch.stack([self.text_cache[model.spec, text] for text in texts])

    @torch.no_grad()
    def __call__(self, images, prompt: artengine.Prompt) -> list[float]:
        if not images:
            return []
        texts = [part.text for part in prompt.parts]
        weights = torch.tensor([part.weight for part in prompt.parts])
        weights = weights / weights.abs().sum()
        total = torch.zeros(len(images))
        for model in self.models:
            parts = self.text_features(model, texts)
            for start, chunk in same_size_chunks(images, self.batch_size):
                similarity = model.encode_image(images_to_tensor(chunk)) @ parts.T  # images x parts
                total[start:start + len(chunk)] += (similarity.cpu() * weights).sum(dim=1)
        return (total / len(self.models)).tolist()


def same_size_chunks(images, batch_size: int):
    """(start index, images) runs of at most `batch_size` images that share one size."""
    start = 0
    while start < len(images):
        end = start + 1
        while end < len(images) and end - start < batch_size and images[end].size == images[start].size:
            end += 1
        yield start, images[start:end]
        start = end
