"""What the unclip and diffusers generators share: candidates drawn a fixed batch at a time,
arithmetic precision and previews."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

import artengine
import artengine.devices
from artengine import Candidate, StopRequested


def draw_in_batches(request, progress, steps: int, draw: Callable) -> list[Candidate]:
    """Candidates `generator.batch_size` at a time. Every batch has that many rows (the last is
    filled up with copies of its last seed), so that a candidate's pixels do not depend on how
    many were asked for: `reproduce` remakes one alone, bit for bit.

    `draw(seeds, generators, on_step)` returns one image per seed of the padded batch (a
    torch.Generator each, seeded by it); it calls `on_step(i, preview)` after its step i of
    `steps`, `preview()` giving the batch's images so far. A stop keeps the finished batches."""
    options = request.options
    size, every, total = options["batch_size"], options["save_every"], request.count * steps
    candidates: list[Candidate] = []
    try:
        for first in range(0, request.count, size):
            seeds = list(request.seeds[first : first + size])
            padded = seeds + seeds[-1:] * (size - len(seeds))
            generators = [torch.Generator().manual_seed(seed) for seed in padded]

            def on_step(i, preview, first=first, n=len(seeds)):
                wanted = preview is not None and every and i % every == 0 and i < steps
                progress(first * steps + i * n, total, side_by_side(preview()[:n]) if wanted else None)

            with torch.no_grad(), autocast(options["precision"], request.device):
                images = draw(padded, generators, on_step)[: len(seeds)]
            candidates += [Candidate(image.convert("RGB"), seed, {"model": options["model"]})
                           for seed, image in zip(seeds, images)]
    except StopRequested:
        for candidate in candidates:
            candidate.metadata["interrupted"] = True
    return candidates


def autocast(choice: str, device: str):
    """bf16 where the hardware does it natively (auto), or as asked."""
    bf16 = choice == "bf16" or (choice == "auto" and artengine.devices.native_bf16(device))
    return torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def side_by_side(images):
    from PIL import Image

    width, height = images[0].size
    sheet = Image.new("RGB", (width * len(images), height))
    for index, image in enumerate(images):
        sheet.paste(image, (index * width, 0))
    return sheet
