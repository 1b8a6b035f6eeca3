"""Training batches from a sequence of (image, captions) pairs.

The engine's sampler picks the pairs and hands over a seed that depends only on the position
in the data, so a resumed run sees the same batches as an uninterrupted one. One caption is drawn at random per sample. Contrastive loss treats every
other caption in the batch as false for an image, so a sample is left out when its caption and
one already in the batch could describe the same image: with captions that leave attributes
out ("a red circle"), that happens often.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from . import shapes_captions
from .model import fit_to_size, images_to_tensor


@dataclass
class Batch:
    images: torch.Tensor  # B x 3 x H x W in [0, 1]
    captions: list[str]
    negatives: list[list[str]]  # per sample, captions false for its image (may be empty)


class BatchMaker:
    def __init__(self, pairs: Sequence, batch_size: int, image_size: tuple[int, int], hard_negatives: int):
        self.pairs = pairs
        self.batch_size = batch_size
        self.image_size = image_size
        self.hard_negatives = hard_negatives

    def batch(self, indices: list[int], seed: int) -> Batch:
        """The pairs at `indices` (the engine's sampler order), each clashing one replaced by a
        random draw (seeded by `seed`) until the batch is full or the tries run out."""
        rng = random.Random(seed)
        drawn = iter(indices)
        images, captions, parsed_captions, negatives = [], [], [], []
        for _ in range(self.batch_size * 20):  # bounded: tiny datasets cannot fill a batch
            if len(images) == self.batch_size:
                break
            index = next(drawn, None)
            image, texts = self.pairs[rng.randrange(len(self.pairs)) if index is None else index]
            if not texts:
                continue
            caption = rng.choice(texts)
            parsed = shapes_captions.parse(caption)
            if any(clashes(caption, parsed, other, other_parsed) for other, other_parsed in zip(captions, parsed_captions)):
                continue
            images.append(image)
            captions.append(caption)
            parsed_captions.append(parsed)
            negatives.append(shapes_captions.hard_negatives(parsed, self.hard_negatives, rng) if parsed else [])
        return Batch(to_tensor(images, self.image_size), captions, negatives)


def clashes(caption: str, parsed, other: str, other_parsed) -> bool:
    """Whether the two captions could describe one image (or are the same text)."""
    if caption == other:
        return True
    return parsed is not None and other_parsed is not None and compatible(parsed, other_parsed)


def compatible(a: shapes_captions.Caption, b: shapes_captions.Caption) -> bool:
    """Whether one shapes-world image could fit both captions: nothing named in both differs."""
    if a.two_objects != b.two_objects or None not in (a.background, b.background) and a.background != b.background:
        return False
    if not a.two_objects:
        return a.colour == b.colour and a.shape == b.shape and all(
            None in (getattr(a, f), getattr(b, f)) or getattr(a, f) == getattr(b, f) for f in ("size", "position"))
    pair = (a.colour, a.shape, a.relation, a.colour2, a.shape2)
    return pair in ((b.colour, b.shape, b.relation, b.colour2, b.shape2),
                    (b.colour2, b.shape2, INVERSE[b.relation], b.colour, b.shape))


INVERSE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below", "below": "above"}


def to_tensor(images, size: tuple[int, int]) -> torch.Tensor:
    """PIL images of any sizes -> B x 3 x H x W in [0, 1] at `size` (short side fitted, centre-cropped)."""
    tensors = [images_to_tensor([image]) for image in images]
    return torch.cat([t if t.shape[-2:] == size else fit_to_size(t, size, "shortest", "bicubic") for t in tensors])
