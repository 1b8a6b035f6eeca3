"""Which images and captions make each training batch: a pure function of (seed, step).

Every epoch visits the images in a fresh seeded order; a global batch is split between the
processes, so each rank reads different images. A caption is drawn at random for each visit,
and null-caption dropout blanks some (for classifier-free guidance). Because nothing depends
on state, `--resume` continues with exactly the batches the interrupted run would have read.
"""

from __future__ import annotations

import numpy as np
import torch


class Batches:
    def __init__(self, codes: np.ndarray, captions: np.ndarray, first: np.ndarray, counts: np.ndarray,
                 null_row: np.ndarray, batch_size: int, accumulation: int, seed: int, rank: int, world: int,
                 null_caption: float):
        self.codes, self.captions, self.first, self.counts = codes, captions, first, counts
        self.null_row = null_row
        self.batch_size, self.accumulation = batch_size, accumulation
        self.seed, self.rank, self.world = seed, rank, world
        self.null_caption = null_caption
        self._orders: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            if len(self._orders) > 2:  # a batch spans at most two epochs
                self._orders.pop(min(self._orders))
            self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self.codes))
        return self._orders[epoch]

    def images(self, step: int, micro: int) -> np.ndarray:
        """Indices of the images of this rank's micro-batch `micro` of optimizer step `step`."""
        draw = (step * self.accumulation + micro) * self.world + self.rank
        positions = np.arange(draw * self.batch_size, (draw + 1) * self.batch_size)
        n = len(self.codes)
        epochs = positions // n
        images = np.empty_like(positions)
        for epoch in np.unique(epochs):
            here = epochs == epoch
            images[here] = self.order(int(epoch))[positions[here] % n]
        return images

    def get(self, step: int, micro: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(text rows B x T, codes B x N) as long tensors on `device`."""
        images = self.images(step, micro)
        rng = np.random.default_rng([self.seed, step, micro, self.rank, 1])
        chosen = self.first[images] + (rng.random(len(images)) * self.counts[images]).astype(np.int64)
        text = self.captions[chosen].astype(np.int64)
        text[rng.random(len(images)) < self.null_caption] = self.null_row
        codes = np.asarray(self.codes[images], dtype=np.int64)
        return torch.from_numpy(text).to(device), torch.from_numpy(codes).to(device)
