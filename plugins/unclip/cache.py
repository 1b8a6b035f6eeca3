"""What the unCLIP trainer learns from, computed once: each training image's VQGAN codes and
CLIP image embedding, and its caption's CLIP text embedding.

    OUT/cache/meta.json     what was cached (data, count, seed, the models' specs); a cache
                            that does not match the run is an error, never silently rebuilt
    OUT/cache/codes.npy     images x h*w VQGAN codes (int32)
    OUT/cache/image.npy     images x dim unit CLIP image embeddings (float16)
    OUT/cache/text.npy      images x dim unit CLIP text embeddings of the caption (float16)
    OUT/cache/captions.json the captions

The folder is written under a temporary name inside OUT and renamed when complete, so a cut
build leaves nothing that a later run would read.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

BATCH = 128


@dataclass
class Cache:
    codes: np.ndarray
    image: np.ndarray
    text: np.ndarray
    captions: list[str]
    grid: tuple[int, int]

    def __len__(self) -> int:
        return len(self.captions)


def open_cache(folder: Path, key: dict) -> Cache | None:
    """The cache in `folder`, None if there is none; UsageError if it was made for another run."""
    from artengine import UsageError

    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key:
            raise UsageError(f"'{folder}' caches other data or models than this run asks for; delete it to "
                             "rebuild it, or train into another --out")
        cache = Cache(np.load(folder / "codes.npy"), np.load(folder / "image.npy"), np.load(folder / "text.npy"),
                      json.loads((folder / "captions.json").read_text(encoding="utf-8")), tuple(meta["grid"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"the training cache '{folder}' is damaged ({error}); delete the folder and run "
                         "again to rebuild it") from None
    if not len(cache) == len(cache.codes) == len(cache.image) == len(cache.text):
        raise UsageError(f"the training cache '{folder}' is damaged (its files disagree on the number of "
                         "images); delete the folder and run again to rebuild it")
    return cache


def build_cache(folder: Path, key: dict, pairs, vqgan, clip, log) -> Cache:
    """Encode every pair of `pairs` (a sequence of (image, captions)) with both models."""
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():  # our own leftover from a cut build: the name lies inside OUT
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    codes, image, text, captions = [], [], [], []
    started, count = time.perf_counter(), len(pairs)
    with torch.no_grad():
        for first in range(0, count, BATCH):
            chunk = [pairs[i] for i in range(first, min(first + BATCH, count))]
            pixels = torch.stack([torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1) for im, _ in chunk])
            pixels = pixels.float().div(255).to(vqgan.codebook.device)
            words = [texts[0] if texts else "" for _, texts in chunk]
            codes.append(vqgan.encode(pixels).flatten(1).cpu().numpy().astype(np.int32))
            image.append(clip.encode_image(pixels).cpu().numpy().astype(np.float16))
            text.append(clip.encode_text(words).cpu().numpy().astype(np.float16))
            captions += words
            if first and first % (BATCH * 40) == 0:
                rate = (first + len(chunk)) / (time.perf_counter() - started)
                log(f"cached {first + len(chunk)}/{count} images ({rate:.0f}/s)")
    grid = list(vqgan.encode(pixels[:1]).shape[1:])
    np.save(partial / "codes.npy", np.concatenate(codes))
    np.save(partial / "image.npy", np.concatenate(image))
    np.save(partial / "text.npy", np.concatenate(text))
    (partial / "captions.json").write_text(json.dumps(captions), encoding="utf-8")
    (partial / "meta.json").write_text(json.dumps({"key": key, "grid": grid, "images": count}), encoding="utf-8")
    partial.rename(folder)
    return open_cache(folder, key)
