"""Retrieval accuracy: among N captions and their N images, how often the best match is right.

text→image: for each caption, is the most similar image its own? image→text: for each image,
is the most similar caption its own? A match whose caption is word for word the right one
counts as right (two images drawn with the same full caption cannot be told apart).
For shapes-world data the full caption of each image is used (every attribute named).
"""

from __future__ import annotations

from statistics import mean
from typing import Any

import torch

from . import shapes_captions
from .model import images_to_tensor

EVAL_SEED = 1_000_000
"""First seed of evaluation samples: far from the small seeds that training runs use."""


def caption_for_eval(texts: list[str]) -> str:
    """The image's full shapes-world caption if it has one, else its first caption."""
    parsed = (shapes_captions.parse(text) for text in texts)
    full = next((p for p in parsed if p is not None and p.full), None)
    return full.text() if full is not None else texts[0]


def full_caption_options(data: str) -> dict:
    """Ask a dataset that can leave phrases out of its captions (the shapes world's `omit`) not to."""
    from artengine import get_registry

    registry = get_registry()
    if data in registry.items["dataset"]:
        declared = {option.name: option for option in registry.get("dataset", data).options}
        if "omit" in declared and declared["omit"].type is bool:
            return {"omit": False}
    return {}


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
    from artengine import open_dataset

    results = []
    for trial in range(trials):
        pairs = open_dataset(data, count=n, seed=seed + trial, options=full_caption_options(data))
        chosen = [pairs[i] for i in range(min(n, len(pairs)))]
        results.append(retrieval_accuracy(model, [image for image, _ in chosen],
                                          [caption_for_eval(texts) for _, texts in chosen]))
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
