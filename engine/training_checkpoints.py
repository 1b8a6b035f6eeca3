"""The training loop's checkpoints: one folder per saved step, complete or absent.

    OUT/checkpoints/step-NNNNNNNN/
        model.safetensors   the trained module's weights (float32)
        optimizer.pt        the optimiser's state_dict
        trainer.pt          the trainer's own state (EMA statistics, a second model, ...)
        rng-R.pt            process R's random states (torch, CUDA, numpy, python)
        state.json          step, data position, wall time, world size, the resolved settings

A folder is written as `step-N.partial`, flushed to disk and renamed, so a run killed at any
moment leaves the previous checkpoints intact and never half of one; the newest
`keep_checkpoints` are kept. Everything is read back without unpickling code
(safetensors, `torch.load(weights_only=True)`, JSON): accelerate's own `save_state` pickles
RNG and custom states that `load_state` reads with full unpickling, which would let a
checkpoint folder someone hands you run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from .errors import ArtengineError, UsageError
from .safe_io import inside, read_own_file

STATE_FILE = "state.json"
FACTS = (("step", int, True), ("position", int, True), ("wall_time_s", (int, float), False),
         ("world_size", int, False), ("settings", dict, False))
"""What state.json must hold for `--resume` (key, type, required); numbers are never negative."""


def folder_for(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:08d}"


def latest(out: Path) -> Path | None:
    """The newest complete checkpoint folder in run folder `out`, or None."""
    found = sorted((out / "checkpoints").glob("step-*[0-9]")) if (out / "checkpoints").is_dir() else []
    return found[-1] if found else None


def read_facts(folder: Path) -> dict[str, Any]:
    """The checkpoint's state.json: step, position, settings, ..."""
    try:  # not through a link, nor through a checkpoints folder that leads out of the run
        facts = json.loads(read_own_file(folder / STATE_FILE, "checkpoint state", root=folder.parent.parent))
        if not isinstance(facts, dict):
            raise ValueError("not a JSON object")
        for key, kinds, required in FACTS:
            if (key in facts or required) and (not isinstance(facts.get(key), kinds) or isinstance(facts.get(key), bool)
                                               or (kinds != dict and facts[key] < 0)):
                raise ValueError(f"'{key}' is {'missing' if key not in facts else repr(facts[key])[:40]}")
        return facts
    except UsageError as error:
        raise UsageError(f"--resume: {error}; delete that checkpoint folder to resume from the one before") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"--resume: '{folder / STATE_FILE}' cannot be read ({first_line(error)}); "
                         "delete that folder to resume from the one before") from None


def random_states() -> dict[str, Any]:
    """This process's random generators, as tensors and plain values (readable weights_only)."""
    import numpy as np
    import torch

    name, keys, position, has_gauss, cached = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(states["torch"])
    random.setstate(_tuples(states["python"]))
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_tensors(value: Any, path: Path) -> None:
    import torch

    torch.save(value, path)


def load_tensors(path: Path, device: Any = "cpu") -> Any:
    """A file of tensors and plain data, refused if it names anything that could run code."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UsageError(f"--resume: '{path}' cannot be read safely: it holds more than tensors and plain data, "
                         f"which can run code when loaded, so it was not loaded ({first_line(error)}); delete "
                         "that checkpoint folder to resume from the one before") from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file gets the same answer
        raise UsageError(f"--resume: '{path}' cannot be read ({first_line(error)}); delete that checkpoint "
                         "folder to resume from the one before") from None


def start_partial(out: Path, step: int) -> Path:
    """The (emptied) folder the checkpoint of `step` is written into before it counts."""
    partial = folder_for(out, step).with_name(f"step-{step:08d}.partial")
    inside(partial, out, "checkpoint folder")  # a checkpoints/ that is a link out is never emptied
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


@contextlib.contextmanager
def writing(partial: Path, step: int, out: Path):
    """Around the writing of a checkpoint: an error of the disk (full, gone read-only) removes
    the partial folder and becomes one line saying what is kept and how to go on."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and "writ" not in str(error):  # torch.save's full disk says "failed writing"
            raise
        shutil.rmtree(partial, ignore_errors=True)
        previous = latest(out)
        then = (f"continue with --resume from step {int(previous.name[5:])}, the newest checkpoint kept"
                if previous is not None else "start again")
        raise ArtengineError(f"cannot write the checkpoint of step {step} in '{partial.parent}' "
                             f"({first_line(error)}); free some space, then {then}") from None


def complete(partial: Path, keep: int) -> Path:
    """Flush the partial folder's files, rename it into place, and prune older checkpoints."""
    for written in partial.iterdir():  # on disk before the rename makes the folder count
        with open(written, "rb") as handle:
            os.fsync(handle.fileno())
    final = partial.with_name(partial.name.removesuffix(".partial"))
    discard(final)
    os.replace(partial, final)
    checkpoints = final.parent
    for old in sorted(checkpoints.glob("step-*[0-9]"))[:-keep]:
        discard(old)
    for leftover in checkpoints.glob("step-*.deleting"):  # from a run killed while deleting
        shutil.rmtree(leftover, ignore_errors=True)
    return final


def discard(folder: Path) -> None:
    """Delete a checkpoint folder, renaming it first: a kill during the deletion leaves a folder
    that no longer looks like a checkpoint, never half of one."""
    if folder.exists():
        doomed = folder.with_name(folder.name + ".deleting")
        shutil.rmtree(doomed, ignore_errors=True)
        os.replace(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__
