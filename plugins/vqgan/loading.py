"""Resolving `vqgan:` specs to a loaded VQGAN.

- `vqgan:shapes`: the shipped model (package data in weights/shapes/);
- `vqgan:DIR`: a folder with model.safetensors + config.json (what `train vqgan` writes);
- `vqgan:PATH.ckpt`: a published taming checkpoint with PATH.yaml beside it;
- `vqgan:PATH.ckpt@CONFIG.yaml`: the same with its config given explicitly.

Weights are read through artengine.checkpoints, which never runs code from a pickle.
Only this module's functions import torch, and only when called.
"""

from __future__ import annotations

import json
from pathlib import Path

from artengine import UsageError

from .config import VQGANConfig, read_config

WEIGHTS = Path(__file__).parent / "weights"
SHIPPED = {"shapes": WEIGHTS / "shapes"}
WEIGHT_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
SPEC_HELP = "give 'shapes', a folder with model.safetensors + config.json, or PATH.ckpt[@CONFIG.yaml]"


def resolve(name: str) -> tuple[Path, Path]:
    """(weights file, config file) for the part of a spec after 'vqgan:'."""
    if name in SHIPPED:
        folder = SHIPPED[name]
        if not (folder / "model.safetensors").is_file():
            raise UsageError(
                f"vqgan:{name}: its weights are missing from this installation ({folder}); reinstall "
                f"artengine, or train one with `artengine train vqgan --data shapes --out DIR` and use vqgan:DIR"
            )
        return _folder_files(folder, f"shipped model 'vqgan:{name}' (reinstall artengine?)")
    weights_text, config_text = _split_config(name)
    weights = Path(weights_text).expanduser()
    if config_text is not None:
        config = Path(config_text).expanduser()
        if not config.is_file():
            raise UsageError(f"vqgan:{name}: config '{config}' does not exist")
    if weights.is_dir():
        if config_text is not None:
            return _folder_files(weights, f"vqgan:{name}")[0], config
        return _folder_files(weights, f"vqgan:{name}")
    if not weights.exists():
        hint = f"; {SPEC_HELP}" if weights.suffix == "" else ""
        raise UsageError(f"vqgan:{name}: '{weights}' does not exist{hint}")
    if config_text is not None:
        return weights, config
    return weights, _config_beside(weights, name)


def _split_config(name: str) -> tuple[str, str | None]:
    """'model.ckpt@config.yaml' -> ('model.ckpt', 'config.yaml'); a path may itself hold '@'."""
    head, sep, tail = name.rpartition("@")
    if sep and head and Path(tail).suffix.lower() in CONFIG_SUFFIXES:
        return head, tail
    return name, None


def _folder_files(folder: Path, where: str) -> tuple[Path, Path]:
    weights, config = folder / WEIGHT_FILE, folder / CONFIG_FILE
    for path in (weights, config):
        if not path.is_file():
            raise UsageError(f"{where}: '{path}' is missing; a VQGAN folder holds {WEIGHT_FILE} and {CONFIG_FILE}")
    return weights, config


def _config_beside(weights: Path, name: str) -> Path:
    candidates = [weights.with_suffix(suffix) for suffix in (".yaml", ".yml")]
    if weights.suffix.lower() == ".safetensors":
        candidates.append(weights.with_name(CONFIG_FILE))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"vqgan:{name}: no config beside the weights (looked for {', '.join(c.name for c in candidates)}); "
        f"put the model's .yaml there or give it: vqgan:{weights}@CONFIG.yaml"
    )


def load_vqgan(name: str, device: str = "cpu"):
    """The VQGAN named by `name`, in eval mode on `device`, its parameters frozen."""
    weights, config_path = resolve(name)
    config = read_config(config_path)
    check_fits(config, weights, config_path)
    model = build(config, weights)
    return model.to(device).eval().requires_grad_(False)


def check_fits(config: VQGANConfig, weights: Path, config_path: Path) -> None:
    """Refuse sizes the weights cannot fill before the model is made (a safetensors file's
    header against the model built on the meta device)."""
    import artengine
    import artengine.files

    from .model import VQGAN

    ddconfig = config.ddconfig
    artengine.files.check_model_fits(lambda: VQGAN(config), weights, config_path,
                                     counts={"ddconfig.num_res_blocks": ddconfig["num_res_blocks"],
                                             "the length of ddconfig.ch_mult": len(ddconfig["ch_mult"]),
                                             "the length of ddconfig.attn_resolutions": len(ddconfig["attn_resolutions"])},
                                     renamed=lambda name: None if name.startswith("loss.") else name)


def build(config: VQGANConfig, weights: Path):
    """A VQGAN of `config` holding the weights from `weights` (taming's parameter names)."""
    from artengine.files import read_checkpoint

    from .model import VQGAN

    checkpoint = read_checkpoint(weights)
    model = VQGAN(config)
    load_state(model, model_state(checkpoint, weights), weights)
    return model


def model_state(checkpoint: dict, source: Path) -> dict:
    """The model's tensors: under 'state_dict' in Lightning checkpoints, with the loss's dropped."""
    import torch

    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict):
        raise UsageError(f"checkpoint '{source}': 'state_dict' is not a mapping of tensors")
    return {
        key: value for key, value in state.items()
        if isinstance(value, torch.Tensor) and not key.startswith("loss.")
    }


def load_state(model, state: dict, source: Path) -> None:
    """Load `state` strictly, naming what does not fit (a config that does not match the weights)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(key for key in set(expected) & set(state) if expected[key].shape != state[key].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        key = wrong[0]
        problems.append(
            f"{len(wrong)} of another shape (e.g. {key}: {tuple(state[key].shape)} in the file, "
            f"{tuple(expected[key].shape)} in the config)"
        )
    if problems:
        raise UsageError(f"weights '{source}' do not match their config: tensors {'; '.join(problems)}")
    model.load_state_dict(state)


def shipped_card(name: str) -> dict | None:
    """The figures in a shipped model's config.json ('card' section), or None if not installed."""
    path = SHIPPED[name] / CONFIG_FILE
    if not path.is_file() or not (SHIPPED[name] / WEIGHT_FILE).is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("card", {})
    except (OSError, ValueError):
        return None
