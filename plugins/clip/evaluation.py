"""Retrieval accuracy: among N captions and their N images, how often the best match is right.

text→image: for each caption, is the most similar image its own? image→text: for each image,
is the most similar caption its own? A match whose caption is word for word the right one
counts as right (two images drawn with the same full caption cannot be told apart).
The dataset's `evaluation_pairs` give each image its fullest caption (every attribute named,
where captions may leave some out); the first caption of each is used.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

import torch

from .model import images_to_tensor

EVAL_SEED = 1_000_000
"""First seed of evaluation samples: far from the small seeds that training runs use."""


@torch.no_grad()
def retrieval_accuracy(model, images, captions: list[str], batch_size: int = 64) -> dict[str, float]:
    image_features = torch.cat([
        model.encode_image(images_to_tensor(images[start:start + batch_size]))
        for start in range(0, len(images), batch_size)
    ])
    text_features = model.encode_text(captions)
    similarity = image_features @ text_features.T  # images x captions
    image_to_text = similarity.argmax(dim=1).tolist()
    text_to_image = similarity.argmax(dim=0).tolist()
    return {
        "text_to_image_top1": mean(captions[found] == captions[i] for i, found in enumerate(text_to_image)),
        "image_to_text_top1": mean(captions[found] == captions[i] for i, found in enumerate(image_to_text)),
    }


def evaluate(model, data: str, n: int, trials: int, seed: int = EVAL_SEED) -> dict[str, Any]:
    from artengine import load_dataset

    dataset = load_dataset(data)
    results = []
    for trial in range(trials):
        pairs = dataset.evaluation_pairs(n, seed + trial)
        chosen = [pairs[i] for i in range(min(n, len(pairs)))]
        results.append(retrieval_accuracy(model, [image for image, _ in chosen], [texts[0] for _, texts in chosen]))
    return {
        "model": model.spec,
        "data": data,
        "n": n,
        "trials": trials,
        "seed": seed,
        "text_to_image_top1": round(mean(r["text_to_image_top1"] for r in results), 4),
        "image_to_text_top1": round(mean(r["image_to_text_top1"] for r in results), 4),
        "per_trial": results,
    }
