"""Training batches from a dataset's (image, captions) pairs.

The engine's sampler picks the pairs and hands over a seed that depends only on the position
in the data, so a resumed run sees the same batches as an uninterrupted one. One caption is
drawn at random per sample. Contrastive loss treats every other caption in the batch as false
for an image, so a sample is left out when its caption and one already in the batch could
describe the same image (the dataset's `compatible`): with captions that leave attributes
out ("a red circle"), that happens often. Hard negatives come from the dataset too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from artengine import Dataset

from .model import fit_to_size, images_to_tensor


@dataclass
class Batch:
    images: torch.Tensor  # B x 3 x H x W in [0, 1]
    captions: list[str]
    negatives: list[list[str]]  # per sample, captions false for its image (may be empty)


class BatchMaker:
    def __init__(self, dataset: Dataset, pairs: Sequence, batch_size: int, image_size: tuple[int, int],
                 hard_negatives: int):
        self.dataset = dataset
        self.pairs = pairs
        self.batch_size = batch_size
        self.image_size = image_size
        self.hard_negatives = hard_negatives

    def batch(self, indices: list[int], seed: int) -> Batch:
        """The pairs at `indices` (the engine's sampler order), each clashing one replaced by a
        random draw (seeded by `seed`) until the batch is full or the tries run out."""
        rng = random.Random(seed)
        drawn = iter(indices)
        images, captions, negatives = [], [], []
        for _ in range(self.batch_size * 20):  # bounded: tiny datasets cannot fill a batch
            if len(images) == self.batch_size:
                break
            index = next(drawn, None)
            image, texts = self.pairs[rng.randrange(len(self.pairs)) if index is None else index]
            if not texts:
                continue
            caption = rng.choice(texts)
            if any(self.dataset.compatible(caption, other) for other in captions):
                continue
            images.append(image)
            captions.append(caption)
            negatives.append(self.dataset.hard_negatives(caption, self.hard_negatives, rng) if self.hard_negatives else [])
        return Batch(to_tensor(images, self.image_size), captions, negatives)


def to_tensor(images, size: tuple[int, int]) -> torch.Tensor:
    """PIL images of any sizes -> B x 3 x H x W in [0, 1] at `size` (short side fitted, centre-cropped)."""
    tensors = [images_to_tensor([image]) for image in images]
    return torch.cat([t if t.shape[-2:] == size else fit_to_size(t, size, "shortest", "bicubic") for t in tensors])
