"""Helpers for the search plugin's tests: a tiny random CLIP model and small image folders."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_clip(folder: Path, seed: int = 0) -> str:
    """A random open_clip model saved as a `clip:PATH` folder; returns its spec."""
    import torch
    from safetensors.torch import save_file

    from artengine.plugins.clip.model import build_network

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    network = build_network(TINY_CFG)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"clip:{folder}"


def shapes_folder(folder: Path, count: int, seed: int = 0, objects: str = "1") -> list[Path]:
    """`count` shapes-world PNGs with their captions beside them, as `data shapes` writes."""
    from artengine.plugins.shapes.dataset import ShapesPairs

    folder.mkdir(parents=True, exist_ok=True)
    pairs = ShapesPairs(count, seed, objects=objects, omit=False)
    paths = []
    for i in range(count):
        image, (caption,) = pairs[i]
        path = folder / f"{i:05d}.png"
        image.save(path)
        path.with_suffix(".txt").write_text(caption + "\n")
        paths.append(path)
    return paths


def generated_png(path: Path, prompt: str, seed: int, generator: str, score: float, colour=(200, 30, 30)) -> Path:
    """A PNG carrying artengine's metadata, as `artengine generate` writes it."""
    from PIL import Image

    from artengine.outputs import png_bytes

    record = {"prompt": prompt, "seed": seed, "generator": generator, "score": score, "size": "64x64",
              "config": {"generator": {"name": generator}, "scorer": {"name": "clip"}}, "artengine": "0.1.0"}
    path.write_bytes(png_bytes(Image.new("RGB", (64, 64), colour), "parameters", record))
    return path


def png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A small PNG file whose header claims width x height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 7))
                     + chunk(b"IEND", b""))
    return path
