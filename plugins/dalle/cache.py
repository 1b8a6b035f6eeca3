"""The code cache: every training image tokenised once by the VQGAN, kept on disk.

    meta.json        what was cached (source, count, seed, options, image size, VQGAN hash);
                     a cache whose meta does not match the run is rebuilt
    codes.bin        uint16 (or int32 for big codebooks) codes, N per image, memory-mapped
    captions.jsonl   one JSON list of captions per image

The folder is the trainer's own (marked; a folder of anything else is refused). Each file is
written under a temporary name and renamed into place, meta.json last: a cache whose meta.json
is missing, damaged or does not match the run is rebuilt.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Source, read_pairs

ENCODE_BATCH = 64


@dataclass
class CodeCache:
    folder: Path
    codes: np.ndarray  # images x N, memory-mapped
    captions: list[list[str]]
    rows: int
    cols: int
    image_size: int

    def __len__(self) -> int:
        return len(self.captions)


def cache_key(source: Source, count, seed, options, image_size, vqgan_hash) -> dict:
    return {"source": source.describe(), "count": count, "seed": seed, "options": options,
            "image_size": image_size, "vqgan_weights_hash": vqgan_hash}


KIND = "dalle code cache"
CAPTIONS_LIMIT = 1 << 30


def claim(folder: Path, create: bool = True) -> Path:
    """`--cache` as the trainer's own folder: it is rebuilt (its files replaced) when stale, so a
    folder of anything else, the --data folder say, is refused rather than overwritten."""
    from artengine.files import claim_folder

    return claim_folder(folder, KIND, "--cache", create=create)


def open_cache(folder: Path, key: dict) -> CodeCache | None:
    """The cache in `folder` if it was built for `key`, else None (also when a file of it is
    damaged or cut short: the cache is ours to rebuild, with a warning)."""
    from artengine import ArtengineError, warn
    from artengine.files import read_own_file

    meta_path = folder / "meta.json"
    if not meta_path.is_file() or meta_path.is_symlink():
        return None
    try:
        meta = json.loads(read_own_file(meta_path, "code cache meta file", root=folder))
        if meta.get("key") != key:
            return None
        rows, cols = meta["grid"]
        dtype = np.dtype(meta["dtype"])
        captions = [json.loads(line) for line in read_own_file(folder / "captions.jsonl", "code cache captions",
                                                               CAPTIONS_LIMIT, root=folder).splitlines()]
        codes = np.memmap(folder / "codes.bin", dtype=dtype, mode="r", shape=(meta["images"], rows * cols))
        if len(captions) != meta["images"] or not all(isinstance(c, list) for c in captions):
            raise ValueError(f"{len(captions)} caption lines for {meta['images']} images")
        return CodeCache(folder, codes, captions, rows, cols, meta["image_size"])
    except (ArtengineError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        warn(f"the code cache '{folder}' is damaged ({type(error).__name__}: {str(error)[:120]}); rebuilding it")
        return None


def build_cache(folder: Path, key: dict, source: Source, vqgan, device, log=print) -> CodeCache:
    """Read every pair once, encode its image, write the cache folder (replacing a stale one).

    The folder must be the trainer's own (see `claim`); its meta.json goes first and comes back
    last, so a build cut short leaves a cache that counts as stale, never one that half matches."""
    from artengine.files import replace_file

    claim(folder)
    (folder / "meta.json").unlink(missing_ok=True)
    size = key["image_size"]
    n_codes = vqgan.codebook.shape[0]
    dtype = np.dtype("uint16" if n_codes <= 65536 else "int32")
    images, grid, batch = 0, None, []

    def write_data(codes_path: Path) -> None:
        nonlocal images, grid
        captions_temp = folder / f".captions.jsonl.building-{os.getpid()}"
        try:
            with open(codes_path, "wb") as codes_file, open(captions_temp, "w", encoding="utf-8") as caps:
                def flush():
                    nonlocal grid
                    codes = encode(vqgan, [image for image, _ in batch], size, device)
                    grid = tuple(codes.shape[1:])
                    codes_file.write(codes.flatten(1).cpu().numpy().astype(dtype).tobytes())
                    for _, captions in batch:
                        caps.write(json.dumps(captions) + "\n")
                    batch.clear()

                for image, captions in read_pairs(source, key["count"], key["seed"], key["options"]):
                    batch.append((image, captions))
                    images += 1
                    if len(batch) == ENCODE_BATCH:
                        flush()
                        if images % (ENCODE_BATCH * 50) == 0:
                            log(f"cached the codes of {images} images")
                if batch:
                    flush()
            if images:
                replace_file(folder / "captions.jsonl", lambda path: os.replace(captions_temp, path))
        finally:
            Path(captions_temp).unlink(missing_ok=True)

    replace_file(folder / "codes.bin", write_data)
    if images == 0:
        raise_empty(source)
    meta = {"key": key, "images": images, "grid": list(grid), "dtype": dtype.name, "image_size": size,
            "n_codes": n_codes}
    replace_file(folder / "meta.json", json.dumps(meta, indent=2).encode())
    return open_cache(folder, key)


def raise_empty(source: Source):
    from artengine import UsageError

    raise UsageError(f"--data {source.name!r} gave no image-caption pairs")


def square(image, size: int):
    """Centre-crop to a square and resize to size x size."""
    from PIL import Image

    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return image if image.size == (size, size) else image.resize((size, size), Image.BICUBIC)


@torch.no_grad()
def encode(vqgan, images, size: int, device) -> torch.Tensor:
    """VQGAN codes (B x rows x cols) of PIL images, squared to size x size."""
    arrays = np.stack([np.asarray(square(image, size), dtype=np.uint8) for image in images])
    pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(255).to(device)
    return vqgan.encode(pixels)
