"""Reading open_clip weight files without running code from them.

`read_state_dict` is the one place weights are read; it accepts the published layouts
(a bare state dict, or one under 'state_dict', with or without a 'module.' prefix).
"""

from __future__ import annotations

from pathlib import Path

import artengine
import artengine.files
from artengine import UsageError


def read_checkpoint(path: Path) -> dict:
    """The file's contents as plain data: safetensors directly, torch files with
    `weights_only=True`, which refuses pickled objects other than tensors and containers."""
    import torch

    artengine.files.check_regular(path, "weights file")  # a FIFO or a device would block or never end
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"weights file '{path}' does not exist") from None
    except Exception as error:  # noqa: BLE001 - any reading failure is the file's fault
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(
            f"weights file '{path}' cannot be read safely ({first_line}); "
            "give an open_clip state dict saved as .safetensors, .bin or .pt"
        ) from None


def read_state_dict(path: Path) -> dict:
    """The tensors of an open_clip checkpoint, keyed as open_clip names its parameters."""
    import torch

    contents = read_checkpoint(path)
    if isinstance(contents, dict) and isinstance(contents.get("state_dict"), dict):
        contents = contents["state_dict"]
    if not isinstance(contents, dict) or not contents:
        raise UsageError(f"weights file '{path}' holds no state dict of tensors")
    tensors = {key: value for key, value in contents.items() if isinstance(value, torch.Tensor)}
    if tensors and all(key.startswith("module.") for key in tensors):
        tensors = {key[len("module."):]: value for key, value in tensors.items()}
    return tensors
