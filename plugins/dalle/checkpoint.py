"""The checkpoint folder: everything needed to sample, in one self-contained directory.

    config.json        layout, transformer shape, the VQGAN spec and the hash of its weights,
                       training facts and the model card's figures
    model.safetensors  the GPT-2 parameters (the tied output projection is stored once)
    tokenizer.json     the `tokenizers` BPE trained on the captions
    README.md          the model card

The VQGAN itself is not copied: config.json names it (e.g. `vqgan:shapes`) and records
`weights_hash` of its parameters, which loading checks, so codes are never decoded by a VQGAN
other than the one they were learned from.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from artengine import UsageError

from .layout import Layout

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
FORMAT = "artengine-dalle"
FORMAT_VERSION = 1
SHIPPED = {"shapes": Path(__file__).parent / "weights" / "shapes"}
TIED = "gpt.lm_head.weight"


def weights_hash(module) -> str:
    """sha256 over a module's state_dict: for each tensor, sorted by name, its name, dtype,
    shape and raw bytes (float tensors as float32, so the hash ignores how they are stored)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_folder(name: str) -> Path:
    """The folder of `dalle:NAME`: a shipped model's name or a path."""
    if name in SHIPPED:
        folder = SHIPPED[name]
        if not (folder / WEIGHTS_FILE).is_file():
            raise UsageError(f"shipped model 'dalle:{name}' is not installed (missing {folder / WEIGHTS_FILE})")
        return folder
    folder = Path(name).expanduser()
    if not folder.is_dir():
        shipped = ", ".join(f"dalle:{n}" for n in SHIPPED)
        raise UsageError(f"dalle:{name}: no such folder; give a checkpoint folder (from `artengine train dalle`) or {shipped}")
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise UsageError(f"dalle:{name}: '{folder}' lacks {CONFIG_FILE} or {WEIGHTS_FILE}; is it a dalle checkpoint folder?")
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"'{folder / CONFIG_FILE}' cannot be read: {error}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UsageError(f"'{folder / CONFIG_FILE}' is not a dalle checkpoint config (format is not {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise UsageError(f"'{folder / CONFIG_FILE}': format_version {config.get('format_version')} is not supported "
                         f"(this artengine reads {FORMAT_VERSION})")
    return config


def layout_of(config: dict) -> Layout:
    return Layout(**config["layout"])


def image_size(config: dict) -> tuple[int, int]:
    """(width, height) in pixels of the images this model makes."""
    width, height = config["vqgan"]["image_size"]
    return int(width), int(height)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` so that readers see the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def weights_bytes(lm, dtype=None) -> bytes:
    """The transformer's parameters as safetensors bytes, floats cast to `dtype` if given."""
    from safetensors.torch import save

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in lm.state_dict().items() if name != TIED}
    if dtype is not None:
        state = {name: t.to(dtype) if t.is_floating_point() else t for name, t in state.items()}
    return save(state, metadata={"format": FORMAT})


def save_model(folder: Path, lm, tokenizer, config: dict, card: str, dtype=None) -> None:
    """Write (or replace) the four files of a checkpoint folder, each atomically; config.json last."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / WEIGHTS_FILE, weights_bytes(lm, dtype))
    write_atomic(folder / "tokenizer.json", tokenizer.to_str().encode())
    write_atomic(folder / CARD_FILE, card.encode())
    write_atomic(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())


def load_weights(lm, path: Path) -> None:
    """Load `path` into `lm` strictly (the tied projection aside), as float32."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as error:  # noqa: BLE001 - safetensors raises several kinds
        raise UsageError(f"'{path}' is not a readable safetensors file: {error}") from None
    expected = {name: t for name, t in lm.state_dict().items() if name != TIED}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = sorted(n for n in set(expected) & set(state) if expected[n].shape != state[n].shape)
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise UsageError(f"'{path}' does not match its config.json ({len(missing)} missing, {len(unexpected)} "
                         f"unexpected, {len(wrong)} mis-shaped tensors, e.g. {example})")
    lm.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()}, strict=False)
