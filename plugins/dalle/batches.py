"""A training micro-batch from the images the engine's sampler picked.

The engine decides which images each process reads (a seeded, resumable order, sharded
across processes); here a caption is drawn for each image, and null-caption dropout blanks
some (for classifier-free guidance). Both draws come from the seed the engine hands over,
which depends only on the position in the data, so `--resume` reads exactly the batches the
uninterrupted run would have.
"""

from __future__ import annotations

import numpy as np
import torch


class Batches:
    def __init__(self, cache, captions: np.ndarray, null_row: np.ndarray, null_caption: float):
        self.codes, self.captions, self.null_row, self.null_caption = cache.codes, captions, null_row, null_caption
        self.counts = np.array([len(texts) for texts in cache.captions], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def get(self, images: list[int], seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(text rows B x T, codes B x N) as long tensors on `device`."""
        images = np.asarray(images, dtype=np.int64)
        rng = np.random.default_rng(seed)
        chosen = self.first[images] + (rng.random(len(images)) * self.counts[images]).astype(np.int64)
        text = self.captions[chosen].astype(np.int64)
        text[rng.random(len(images)) < self.null_caption] = self.null_row
        codes = np.asarray(self.codes[images], dtype=np.int64)
        return torch.from_numpy(text).to(device), torch.from_numpy(codes).to(device)
