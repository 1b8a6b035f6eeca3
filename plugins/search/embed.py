"""Image embeddings in bulk: files decoded ahead in worker threads, the model run on batches.

Decoding (PIL releases the GIL) overlaps the batched forward pass, so the model is rarely
kept waiting; the same preprocessing (open_clip's own eval transform for the model's config)
serves the index, image queries and `classify`, so one image always gets one embedding.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np

from .files import FileEntry, ReadFile, read_file

PRECISIONS = ("auto", "float32", "bfloat16")


class ImageEncoder:
    """Embeds images with a loaded `clip:` model (artengine's ClipModel)."""

    def __init__(self, model, batch_size: int = 64, workers: int | None = None, precision: str = "auto"):
        from open_clip.transform import PreprocessCfg, image_transform_v2

        from artengine.devices import native_bf16

        self.model = model
        self.batch_size = batch_size
        self.workers = workers or max(1, min(8, (os.cpu_count() or 2)))
        self.transform = image_transform_v2(PreprocessCfg(**model.preprocess), is_train=False)
        self.bf16 = precision == "bfloat16" or (precision == "auto" and native_bf16(model.device))

    def encode_tensors(self, batch) -> np.ndarray:
        """Preprocessed images (B x 3 x H x W) -> B x D float32, L2-normalised."""
        import torch
        import torch.nn.functional as F

        device = str(self.model.device)
        autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with torch.no_grad(), autocast:
            features = self.model.network.encode_image(batch.to(device))
        return F.normalize(features.float(), dim=-1).cpu().numpy()

    def encode_images(self, images) -> np.ndarray:
        """PIL images -> N x D float32 embeddings."""
        import torch

        out = [self.encode_tensors(torch.stack([self.transform(image.convert("RGB")) for image in images[i:i + self.batch_size]]))
               for i in range(0, len(images), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def read_ahead(self, entries: Iterable[FileEntry], known_hashes) -> Iterator[ReadFile]:
        """Read (hash, decode) files in worker threads, a few batches ahead; yields them in order."""
        ahead = self.batch_size * 4
        with ThreadPoolExecutor(self.workers) as pool:
            pending: deque = deque()
            for entry in entries:
                pending.append(pool.submit(read_file, entry, known_hashes, self.transform))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def embed_files(self, entries: Iterable[FileEntry], known_hashes=frozenset()) -> Iterator[tuple[list[ReadFile], np.ndarray]]:
        """Yields (files read, embeddings of those among them that were decoded) batch by batch.

        Files whose hash is in `known_hashes`, and files that could not be read, come back
        without an embedding; the rows follow the order of the files with `embedded` set."""
        batch: list[ReadFile] = []
        decoded = 0
        for read in self.read_ahead(entries, known_hashes):
            batch.append(read)
            decoded += read.pixels is not None
            if decoded == self.batch_size:
                yield batch, self._encode_read(batch)
                batch, decoded = [], 0
        if batch:
            yield batch, self._encode_read(batch)

    def _encode_read(self, batch: list[ReadFile]) -> np.ndarray:
        import torch

        decoded = [r for r in batch if r.pixels is not None]
        if not decoded:
            return np.zeros((0, 0), np.float32)
        embeddings = self.encode_tensors(torch.stack([r.pixels for r in decoded]))
        for read in decoded:
            read.pixels, read.embedded = None, True  # the pixels are no longer needed
        return embeddings
