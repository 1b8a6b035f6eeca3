"""Training sources of (image, captions) pairs, read once when the code cache is built.

`--data` names one of:
- a registered dataset (`shapes`), through artengine.open_dataset;
- a folder of images with same-stem `.txt` captions (one caption per line);
- WebDataset-style tar shards: a `.tar` file, a glob (`shards/*.tar`) or a folder of `.tar`
  files. Members sharing a key (the path up to the first dot of the file name) form one
  sample: an image (png, jpg, jpeg, webp) and a `.txt` caption. Shards are streamed, so they
  may be larger than memory.
"""

from __future__ import annotations

import glob
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from artengine import UsageError

IMAGE_SUFFIXES = ("png", "jpg", "jpeg", "webp")


@dataclass
class Source:
    """A resolved `--data` value: what it is, and how to read its pairs."""

    kind: str  # "dataset", "folder" or "shards"
    name: str
    shards: tuple[Path, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "shards": [str(p) for p in self.shards]}


def resolve_source(data: str, registered: list[str]) -> Source:
    path = Path(data).expanduser()
    if path.is_dir():
        shards = tuple(sorted(path.glob("*.tar")))
        has_images = any(p.suffix.lower().lstrip(".") in IMAGE_SUFFIXES for p in path.iterdir())
        if shards and not has_images:
            return Source("shards", str(path.resolve()), shards)
        return Source("folder", str(path.resolve()))
    if path.suffix == ".tar" and path.is_file():
        return Source("shards", str(path.resolve()), (path.resolve(),))
    if any(char in data for char in "*?["):
        shards = tuple(Path(p).resolve() for p in sorted(glob.glob(str(path))) if p.endswith(".tar"))
        if not shards:
            raise UsageError(f"--data {data!r}: the pattern matches no .tar shards")
        return Source("shards", data, shards)
    if data in registered:
        return Source("dataset", data)
    raise UsageError(f"--data {data!r} is not a folder, a .tar shard, a shard pattern or a registered dataset "
                     f"(available: {', '.join(registered) or 'none'})")


MEMBER_LIMIT = 512 * 1024 * 1024
"""Bytes of one file in a shard: as much as any image file artengine reads."""


def read_pairs(source: Source, count: int | None, seed: int, options: dict) -> Iterator[tuple[Any, list[str]]]:
    """Yield (RGB PIL image, captions) pairs, at most `count` of them (None: all)."""
    if source.kind == "shards":
        yield from _limit(_shard_pairs(source.shards), count)
        return
    from artengine import open_dataset

    if source.kind == "folder" and options:
        raise UsageError("--data-option applies to registered datasets, not to a folder of pairs")
    pairs = open_dataset(source.name, count, seed, options)
    for index in range(len(pairs)):
        yield pairs[index]


def _limit(pairs, count):
    for number, pair in enumerate(pairs):
        if count is not None and number >= count:
            return
        yield pair


def _shard_pairs(shards) -> Iterator[tuple[Any, list[str]]]:
    from PIL import Image

    for shard in shards:
        samples: dict[str, dict[str, bytes]] = {}
        order: list[str] = []
        try:
            with tarfile.open(shard, "r|*") as archive:  # streaming: one pass, nothing held but a sample
                for member in archive:
                    if not member.isfile():
                        continue
                    folder, _, filename = member.name.rpartition("/")
                    stem, dot, suffix = filename.partition(".")
                    key = f"{folder}/{stem}"
                    if not dot or suffix.lower() not in (*IMAGE_SUFFIXES, "txt"):
                        continue
                    if order and key != order[-1]:  # samples are stored contiguously
                        yield from _complete(samples.pop(order[-1]), Image, f"shard '{shard}': sample '{order[-1]}'")
                    if key not in samples:
                        samples[key], order = {}, [key]
                    if member.size > MEMBER_LIMIT:
                        raise UsageError(f"shard '{shard}': '{member.name}' holds {member.size:,} bytes, more than the "
                                         f"{MEMBER_LIMIT:,} a sample's file may have; remove it from the shard")
                    samples[key][suffix.lower()] = archive.extractfile(member).read()
        except tarfile.TarError as error:
            raise UsageError(f"shard '{shard}' is not a readable tar file: {error}") from None
        for key, sample in samples.items():
            yield from _complete(sample, Image, f"shard '{shard}': sample '{key}'")


def _complete(sample: dict[str, bytes], Image, where: str):
    """The sample as a pair when it has an image and a caption; skipped otherwise. A caption that
    is not UTF-8 or an image that is not one is a UsageError naming the shard and the sample."""
    from PIL import UnidentifiedImageError

    image_bytes = next((sample[s] for s in IMAGE_SUFFIXES if s in sample), None)
    if image_bytes is None or "txt" not in sample:
        return
    try:
        text = sample["txt"].decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"{where}: its caption is not UTF-8 text (byte {error.start + 1}); "
                         "save it as UTF-8 or remove the sample from the shard") from None
    captions = [line.strip() for line in text.splitlines() if line.strip()]
    if captions:
        try:
            with Image.open(io.BytesIO(image_bytes)) as image:
                rgb = image.convert("RGB")  # decodes every pixel: a truncated image fails here
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
            reason = "no image format Pillow knows" if isinstance(error, UnidentifiedImageError) else str(error)[:160]
            raise UsageError(f"{where}: its image is not a readable image ({reason}); "
                             "remove the sample from the shard") from None
        yield rgb, captions
