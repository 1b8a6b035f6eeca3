"""Checks of a diffusers folder before anything reads it (no torch: `list models` stays fast)."""

from __future__ import annotations

from pathlib import Path

from artengine import UsageError

PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_components(folder: Path, names, what: str) -> None:
    """Each component folder exists and its weights are safetensors, before diffusers reads any."""
    for name in names:
        part = folder / name
        if not part.is_dir():
            raise UsageError(f"{what} '{folder}' lacks its {name}/ folder; it is not a complete {what}")
        files = [p.name for p in part.iterdir()]
        if any(f.endswith(PICKLES) for f in files) and not any(f.endswith(".safetensors") for f in files):
            raise UsageError(f"'{part}' holds pickled weights only; artengine reads safetensors (convert it with "
                             "diffusers: load it, then save_pretrained(..., safe_serialization=True))")


def quiet_loading() -> None:
    """No progress bars of diffusers' and transformers' own while folders load: artengine's
    spinner is showing, and stderr keeps to one line per problem."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
