"""The resumable state of one request: latents, optimiser, random generators, frames so far.

Saved into `work_dir` when the user stops a run (and when it ends), read back from
`resume_from`. One file per request, named by what identifies it (prompt, seeds, size, VQGAN),
so a run of several prompts keeps one file per prompt. Read with `weights_only=True`: a state
file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from engine import UsageError

FORMAT = 1


def state_key(request, vqgan_spec: str) -> str:
    identity = {"prompt": request.prompt.text, "seeds": list(request.seeds), "size": list(request.size),
                "vqgan": vqgan_spec}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def state_path(folder: str | Path, key: str) -> Path:
    return Path(folder) / f"vqgan-clip-state-{key}.pt"


def save_state(folder: str, key: str, state: dict) -> Path:
    from engine.outputs import replace_file

    path = state_path(folder, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"generator.work_dir: cannot create {str(path.parent)!r}: {error.strerror or error}") from None
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    replace_file(path, buffer.getvalue())
    return path


def load_state(folder: str, key: str, device: str) -> dict | None:
    """The saved state for `key`, or None when that request left none (it never started)."""
    path = state_path(folder, key)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same answer
        raise UsageError(f"generator.resume_from: {str(path)!r} is not a readable state file: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"generator.resume_from: {str(path)!r} was written by another version; start afresh")
    return state


def generator_states(generators: list[torch.Generator]) -> list[torch.Tensor]:
    return [generator.get_state() for generator in generators]


def restore_generators(generators: list[torch.Generator], states: list[torch.Tensor]) -> None:
    for generator, state in zip(generators, states, strict=True):
        generator.set_state(state.cpu())
