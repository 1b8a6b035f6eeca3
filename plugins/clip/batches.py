"""Training batches from a sequence of (image, captions) pairs.

Batch `step` depends only on (seed, step), so a resumed run sees the same batches as an
uninterrupted one. One caption is drawn at random per sample. Contrastive loss treats every
other caption in the batch as false for an image, so a sample is left out when its caption
would be true for an image already in the batch (or the other way round): with captions that
leave attributes out ("a red circle"), that happens often.
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
    def __init__(self, pairs: Sequence, batch_size: int, image_size: tuple[int, int], seed: int, hard_negatives: int):
        self.pairs = pairs
        self.batch_size = batch_size
        self.image_size = image_size
        self.seed = seed
        self.hard_negatives = hard_negatives

    def batch(self, step: int) -> Batch:
        rng = random.Random(f"{self.seed}:{step}")
        images, captions, parsed_captions, truths, negatives = [], [], [], [], []
        for _ in range(self.batch_size * 20):  # bounded: tiny datasets cannot fill a batch
            if len(images) == self.batch_size:
                break
            image, texts = self.pairs[rng.randrange(len(self.pairs))]
            if not texts:
                continue
            caption = rng.choice(texts)
            truth = full_description(texts)
            parsed = shapes_captions.parse(caption)
            if any(clashes((caption, parsed, truth), other) for other in zip(captions, parsed_captions, truths)):
                continue
            images.append(image)
            captions.append(caption)
            parsed_captions.append(parsed)
            truths.append(truth)
            negatives.append(shapes_captions.hard_negatives(parsed, self.hard_negatives, rng) if parsed else [])
        return Batch(to_tensor(images, self.image_size), captions, negatives)


def full_description(texts: list[str]) -> shapes_captions.Caption | None:
    """The image's full shapes-world caption among its captions, if it has one."""
    parsed = (shapes_captions.parse(text) for text in texts)
    return next((p for p in parsed if p is not None and p.full), None)


def clashes(sample, other) -> bool:
    """Whether either sample's caption describes the other's image (or they are the same text).

    A sample is (caption, parsed caption or None, parsed full caption of its image or None).
    """
    (caption, parsed, truth), (other_caption, other_parsed, other_truth) = sample, other
    if caption == other_caption:
        return True
    return bool((parsed and other_truth and fits(parsed, other_truth))
                or (other_parsed and truth and fits(other_parsed, truth)))


def fits(caption: shapes_captions.Caption, truth: shapes_captions.Caption) -> bool:
    """Whether `caption` is true of an image whose full caption is `truth`."""
    if caption.two_objects != truth.two_objects:
        return False
    if caption.background is not None and caption.background != truth.background:
        return False
    if not caption.two_objects:
        return all(getattr(caption, f) in (None, getattr(truth, f)) for f in ("colour", "shape", "size", "position"))
    same = (caption.colour, caption.shape, caption.relation, caption.colour2, caption.shape2)
    mirrored = (truth.colour2, truth.shape2, INVERSE[truth.relation], truth.colour, truth.shape)
    return same in ((truth.colour, truth.shape, truth.relation, truth.colour2, truth.shape2), mirrored)


INVERSE = {"to the left of": "to the right of", "to the right of": "to the left of", "above": "below", "below": "above"}


def to_tensor(images, size: tuple[int, int]) -> torch.Tensor:
    """PIL images of any sizes -> B x 3 x H x W in [0, 1] at `size` (short side fitted, centre-cropped)."""
    tensors = [images_to_tensor([image]) for image in images]
    return torch.cat([t if t.shape[-2:] == size else fit_to_size(t, size, "shortest", "bicubic") for t in tensors])
