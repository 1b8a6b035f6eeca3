"""The resumable state of one request: latents, optimiser, random generators, frames so far.

Saved into the request's `state_dir` (a folder the core gives each request of a run) when the
user stops the run; `artengine generate --resume RUN_DIR` hands the same request the same
folder, and the loop continues from it. Read with `weights_only=True`: a state file cannot run
code. The file records what identifies the request, so a state is never applied to another.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from artengine import UsageError

FORMAT = 1
FILE_NAME = "vqgan-clip.pt"
"""The file of a vqgan-clip request's state; each generator of the plugin names its own."""


def identity(request, model_spec: str) -> dict:
    return {"prompt": request.prompt.text, "seeds": list(request.seeds), "size": list(request.size),
            "model": model_spec}


def save_state(folder: Path, state: dict, file_name: str = FILE_NAME) -> Path:
    from artengine.files import replace_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    replace_file(folder / file_name, buffer.getvalue())
    return folder / file_name


def load_state(folder: Path | None, expected: dict, device: str, file_name: str = FILE_NAME) -> dict | None:
    """The saved state of this request, or None when there is none (it never got stopped)."""
    if folder is None or not (Path(folder) / file_name).is_file():
        return None
    path = Path(folder) / file_name
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same answer
        raise UsageError(f"'{path}' is not a readable generator state ({type(error).__name__}); "
                         "delete it to start this prompt afresh") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"'{path}' was written by another version of artengine; delete it to start afresh")
    if state.get("identity") != expected:
        raise UsageError(f"'{path}' belongs to another request ({state.get('identity')}); delete it to start afresh")
    return state


def generator_states(generators: list[torch.Generator]) -> list[torch.Tensor]:
    return [generator.get_state() for generator in generators]


def restore_generators(generators: list[torch.Generator], states: list[torch.Tensor]) -> None:
    for generator, state in zip(generators, states, strict=True):
        generator.set_state(state.cpu())
