"""Resolving the part of a `clip:` spec after the colon into a loaded `ClipModel`.

    shapes                      a model shipped in plugins/clip/weights/
    MODEL@TAG                   open_clip model name and pretrained tag, from the local cache
                                (downloaded only when missing and a network is there)
    MODEL@/path/weights.bin     open_clip model name and a local weights file (.bin/.pt/.safetensors)
    PATH                        a folder in open_clip's hub layout (open_clip_config.json +
                                open_clip_model.safetensors, as `artengine train clip` writes and
                                Hugging Face serves them), or a weights file inside one
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from artengine import UsageError, closest

from . import PUBLISHED
from .weights_file import read_state_dict

SHIPPED_DIR = Path(__file__).parent / "weights"
# open_clip's own names first, in the order its `local-dir:` loader prefers them
CONFIG_NAMES = ("open_clip_config.json",)
WEIGHT_NAMES = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "pytorch_model.bin", "model.pth",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def shipped_names() -> list[str]:
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if any((p / n).is_file() for n in CONFIG_NAMES))


def load_clip(name: str, device: str):
    spec = f"clip:{name}"
    if name in shipped_names():
        return load_folder(SHIPPED_DIR / name, spec, device)
    if name in PUBLISHED:  # the folder the hub plugin fetched and verified
        return load_published(name, spec, device)
    path = Path(name).expanduser()
    if path.exists():
        return load_folder(path, spec, device) if path.is_dir() else load_file_with_config(path, spec, device)
    if "@" in name:
        model_name, _, source = name.partition("@")
        check_model_name(model_name, spec)
        if looks_like_path(source):
            return load_named(model_name, Path(source).expanduser(), spec, device)
        return load_pretrained(model_name, source, spec, device)
    raise UsageError(
        f"{spec}: no shipped model, file or folder of that name; use clip:{' or clip:'.join(shipped_names()) or 'shapes'}, "
        "clip:MODEL@PRETRAINED (e.g. clip:ViT-B-32@laion2b_s34b_b79k), clip:MODEL@/path/to/weights.bin or clip:PATH"
        + closest(name, shipped_names())
    )


def looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.endswith(WEIGHT_SUFFIXES) or Path(text).expanduser().exists()


def check_model_name(model_name: str, spec: str) -> None:
    import open_clip

    known = open_clip.list_models()
    if model_name not in known:
        raise UsageError(
            f"{spec}: '{model_name}' is not an open_clip model name{closest(model_name, known)}; "
            "see open_clip.list_models(), e.g. ViT-B-32"
        )


# -- folders and files with their own config ------------------------------------------------


def read_config(folder: Path, spec: str) -> dict[str, Any]:
    """The folder's open_clip config: {'model_cfg': ..., 'preprocess_cfg': ...}."""
    for config_name in CONFIG_NAMES:
        path = folder / config_name
        if path.is_file():
            try:
                config = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise UsageError(f"{spec}: cannot read '{path}': {error}") from None
            if isinstance(config, dict) and "vision_cfg" in config:  # a bare model config
                config = {"model_cfg": config}
            if not isinstance(config, dict) or not isinstance(config.get("model_cfg"), dict):
                raise UsageError(f"{spec}: '{path}' has no open_clip 'model_cfg'")
            return config
    raise UsageError(
        f"{spec}: folder '{folder}' has no {' or '.join(CONFIG_NAMES)}; give the model name instead: "
        "clip:MODEL@/path/to/weights.bin"
    )


def load_folder(folder: Path, spec: str, device: str):
    config = read_config(folder, spec)
    weights = next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)
    if weights is None:
        raise UsageError(f"{spec}: folder '{folder}' has no weights file ({', '.join(WEIGHT_NAMES)})")
    return assemble(config, weights, spec, device)


def load_file_with_config(path: Path, spec: str, device: str):
    if not any(path.with_name(n).is_file() for n in CONFIG_NAMES):
        raise UsageError(
            f"{spec}: no {' or '.join(CONFIG_NAMES)} beside '{path}', so its architecture is unknown; "
            f"name the model: clip:MODEL@{path} (e.g. clip:ViT-B-32@{path})"
        )
    return assemble(read_config(path.parent, spec), path, spec, device)


def assemble(config: dict, weights: Path, spec: str, device: str):
    from .model import ClipModel, build_network, tokenizer_for

    check_fits(config, weights)  # a header's shapes first: absurd sizes fail before any memory is taken
    state = read_state_dict(weights)  # then a bad file fails before the network is built
    network = build_network(config["model_cfg"], config.get("preprocess_cfg"))
    load_weights(network, state, weights, spec)
    return ClipModel(network, make_tokenizer(lambda: tokenizer_for(config["model_cfg"]), spec), spec, device,
                     config["model_cfg"])


def check_fits(config: dict, weights: Path) -> None:
    """The config's sizes against a safetensors file's header, the network built on the meta
    device. Names open_clip's loader converts (other layouts) or resizes (position embeddings)
    are left to it."""
    import artengine
    import artengine.files

    from .model import build_network

    model_cfg = config["model_cfg"]
    counts = {}
    for tower in ("vision_cfg", "text_cfg"):
        layers = model_cfg.get(tower, {}).get("layers", 0) if isinstance(model_cfg.get(tower), dict) else 0
        counts[f"{tower}.layers"] = sum(layers) if isinstance(layers, (list, tuple)) and all(
            isinstance(n, int) for n in layers) else layers
    path = next((weights.parent / n for n in CONFIG_NAMES if (weights.parent / n).is_file()), weights.parent)

    def renamed(name: str) -> str | None:
        name = name.removeprefix("module.")
        return None if "positional_embedding" in name or name.endswith("position_ids") else name

    artengine.files.check_model_fits(lambda: build_network(model_cfg, config.get("preprocess_cfg")), weights, path,
                                     counts=counts, renamed=renamed, complete=False)


# -- open_clip's own model names --------------------------------------------------------------


def load_named(model_name: str, weights: Path, spec: str, device: str, pretrained_cfg: dict | None = None):
    import open_clip

    from .model import ClipModel, build_network

    if not weights.is_file():
        raise UsageError(f"{spec}: weights file '{weights}' does not exist")
    model_cfg = open_clip.get_model_config(model_name)
    preprocess = dict(pretrained_cfg or {})
    beside = weights.with_name("open_clip_config.json")  # a Hugging Face download keeps one there
    if not pretrained_cfg and beside.is_file():
        preprocess = read_config(weights.parent, spec).get("preprocess_cfg", {})
    if preprocess.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    state = read_state_dict(weights)
    network = build_network(model_cfg, preprocess)
    load_weights(network, state, weights, spec)
    tokenizer = make_tokenizer(lambda: open_clip.get_tokenizer(model_name), spec)
    return ClipModel(network, tokenizer, spec, device, model_cfg)


def load_published(name: str, spec: str, device: str):
    import open_clip

    import artengine

    folder = artengine.load_model(f"hub:{spec}")
    model_name, _, tag = name.partition("@")
    return load_named(model_name, folder / "open_clip_model.safetensors", spec, device,
                      open_clip.get_pretrained_cfg(model_name, tag))


def load_pretrained(model_name: str, tag: str, spec: str, device: str):
    import open_clip

    pretrained_cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not pretrained_cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise UsageError(
            f"{spec}: '{tag}' is not a pretrained tag of {model_name}{closest(tag, tags)}; "
            f"known tags: {', '.join(tags) or 'none'}; or give a local weights file: clip:{model_name}@/path/to/weights.bin"
        )
    weights = find_cached(pretrained_cfg) or download(pretrained_cfg, spec, model_name)
    return load_named(model_name, weights, spec, device, pretrained_cfg)


def find_cached(pretrained_cfg: dict) -> Path | None:
    """The weights of a pretrained tag if the Hugging Face or open_clip URL cache holds them."""
    repo, filename = hub_location(pretrained_cfg)
    if repo:
        from huggingface_hub import try_to_load_from_cache

        for candidate in hub_filenames(filename):
            found = try_to_load_from_cache(repo, candidate)
            if isinstance(found, str):
                return Path(found)
    url = pretrained_cfg.get("url")
    if url:
        cached = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if cached.is_file():
            return cached
    return None


def hub_location(pretrained_cfg: dict) -> tuple[str, str]:
    from open_clip.constants import HF_WEIGHTS_NAME

    repo, filename = os.path.split(pretrained_cfg.get("hf_hub", ""))
    return repo, filename or HF_WEIGHTS_NAME


def hub_filenames(filename: str) -> list[str]:
    """open_clip prefers a safetensors twin of the named file; look for both."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    twin = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else os.path.splitext(filename)[0] + ".safetensors"
    return [twin, filename]


def download(pretrained_cfg: dict, spec: str, model_name: str) -> Path:
    """Fetch a tag's weights through open_clip, after a quick check that its host answers
    (open_clip's downloader would otherwise retry for a minute on a machine offline)."""
    from urllib.parse import urlparse

    from open_clip.pretrained import download_pretrained

    repo, filename = hub_location(pretrained_cfg)
    where = f"https://huggingface.co/{repo}" if repo else pretrained_cfg.get("url", "its published URL")
    host = urlparse(where).hostname or "huggingface.co"

    def refuse(reason: str) -> UsageError:
        return UsageError(
            f"{spec}: the weights are not in the local cache and {reason}; without internet, copy "
            f"{filename} from {where} to this machine and load it with clip:{model_name}@/path/to/{filename}, "
            "or a folder holding it with its open_clip_config.json as clip:PATH"
        )

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise refuse("HF_HUB_OFFLINE is set")
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as error:
        raise refuse(f"{host} cannot be reached ({error.strerror or error})") from None
    try:
        return Path(download_pretrained(pretrained_cfg))
    except Exception as error:  # noqa: BLE001 - blocked, or missing on the hub
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise refuse(f"downloading them failed ({reason[:200]})") from None


# -- weights into a network ---------------------------------------------------------------------


def load_weights(network, state: dict, weights: Path, spec: str) -> None:
    """open_clip's own fix-ups (third-party layouts, logit shapes, position ids), then a strict load."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    state = convert_state_dict(network, state)
    for key in ("logit_scale", "logit_bias"):
        ours = getattr(network, key, None)
        if key in state and ours is not None and state[key].ndim != ours.ndim:
            state[key] = state[key].reshape(ours.shape)
    state.pop("text.transformer.embeddings.position_ids", None)
    try:
        resize_pos_embed(state, network)
        resize_text_pos_embed(state, network)
        result = network.load_state_dict(state, strict=False)
    except (AssertionError, RuntimeError) as error:  # shapes differ: another architecture
        detail = str(error).split("\n\t")[1] if "\n\t" in str(error) else str(error)
        raise UsageError(f"{spec}: '{weights}' does not fit this architecture ({detail.strip()[:200]})") from None
    missing, unexpected = result.missing_keys, result.unexpected_keys
    if missing or unexpected:
        sample = ", ".join([*missing[:3], *unexpected[:3]])
        raise UsageError(
            f"{spec}: '{weights}' does not fit this architecture "
            f"({len(missing)} weights missing, {len(unexpected)} unexpected, e.g. {sample})"
        )


def make_tokenizer(factory, spec: str):
    try:
        return factory()
    except Exception as error:  # noqa: BLE001 - e.g. a Hugging Face tokenizer that is not cached
        raise UsageError(f"{spec}: cannot make its tokenizer ({str(error).splitlines()[0][:200]})") from None
