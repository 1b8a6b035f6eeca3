"""The checkpoint folder: everything needed to sample, in one self-contained directory.

The transformer's files are what `transformers`' `save_pretrained` writes, so
`GPT2LMHeadModel.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)` open it
as it is; artengine's own settings live beside them in a file of their own:

    config.json            transformers' GPT2Config (model_type gpt2, the sizes, dtype float32:
                           artengine computes in float32 whatever precision the weights are stored in)
    model.safetensors      GPT2LMHeadModel's parameters under its own names (the tied output
                           projection is stored once, as the embedding)
    tokenizer.json         the `tokenizers` BPE trained on the captions; with
    tokenizer_config.json  its special tokens and length, transformers' tokenizer makes artengine's
                           text rows: [BOS] caption [EOS] [PAD]...
    artengine_dalle.json   the layout of text and image tokens, the VQGAN spec and the hash of its
                           weights, training facts and the model card's figures
    README.md              the model card

The VQGAN itself is not copied: artengine_dalle.json names it (e.g.
`vqgan:shapes`) and records `weights_hash` of its parameters, which loading checks, so codes are
never decoded by a VQGAN other than the one they were learned from.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from artengine import UsageError
from artengine.files import replace_file

from .layout import Layout

CONFIG_FILE = "config.json"
SETTINGS_FILE = "artengine_dalle.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
FORMAT = "artengine-dalle"
FORMAT_VERSION = 2
SHIPPED = {"shapes": Path(__file__).parent / "weights" / "shapes"}
PREFIX = "gpt."  # DalleLM holds the GPT2LMHeadModel as `gpt`; files name its parameters without it
TIED = "lm_head.weight"
GPT2_SIZES = {"layers": "n_layer", "width": "n_embd", "heads": "n_head", "dropout": "resid_pdrop"}
# config.json keys that say how a file was written, not what the network computes
GPT2_BOOKKEEPING = {"transformers_version", "architectures", "dtype", "torch_dtype", "_name_or_path", "use_cache"}


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


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"'{path}' cannot be read: {error}") from None


def read_config(folder: Path) -> dict[str, Any]:
    """The checkpoint's facts as one dict: format, layout, model (the sizes), vqgan, training,
    card; from artengine_dalle.json + config.json."""
    if not (folder / SETTINGS_FILE).is_file():
        raise UsageError(f"'{folder}' is not a dalle checkpoint: it has no {SETTINGS_FILE}")
    settings = read_json(folder / SETTINGS_FILE)
    if not isinstance(settings, dict) or settings.get("format") != FORMAT:
        raise UsageError(f"'{folder / SETTINGS_FILE}' is not a dalle checkpoint config (format is not {FORMAT!r})")
    if settings.get("format_version") != FORMAT_VERSION:
        raise UsageError(f"'{folder / SETTINGS_FILE}': format_version {settings.get('format_version')} is not "
                         f"supported (this artengine reads {FORMAT_VERSION})")
    return {**settings, "model": sizes_of(read_json(folder / CONFIG_FILE), folder / CONFIG_FILE)}


def sizes_of(gpt2: Any, path: Path) -> dict[str, Any]:
    """The transformer's sizes (model.Shape's fields) from transformers' config.json."""
    if not isinstance(gpt2, dict) or gpt2.get("model_type") != "gpt2":
        raise UsageError(f"'{path}' is not a transformers GPT-2 config (model_type is not 'gpt2')")
    missing = [key for key in GPT2_SIZES.values() if key not in gpt2]
    if missing:  # transformers would fill in GPT-2 small's sizes: refuse rather than guess
        raise UsageError(f"'{path}' does not give {', '.join(missing)}; it is not a dalle checkpoint's config")
    return {field: gpt2[key] for field, key in GPT2_SIZES.items()}


def check_gpt2_config(folder: Path, lm) -> None:
    """Refuse a config.json that asks transformers for another network than the one artengine
    builds from the layout and sizes (an edited activation, vocabulary, number of positions...)."""
    path = folder / CONFIG_FILE
    written = read_json(path)
    ours = lm.gpt.config.to_dict()
    differing = sorted(key for key, value in written.items()
                       if key in ours and key not in GPT2_BOOKKEEPING and ours[key] != value)
    if differing:
        key = differing[0]
        raise UsageError(f"'{path}': {key} is {written[key]!r} but the layout in {SETTINGS_FILE} and the sizes make "
                         f"{ours[key]!r}; this artengine builds only that GPT-2 ({len(differing)} key(s) differ)")


def layout_of(config: dict) -> Layout:
    return Layout(**config["layout"])


def image_size(config: dict) -> tuple[int, int]:
    """(width, height) in pixels of the images this model makes."""
    width, height = config["vqgan"]["image_size"]
    return int(width), int(height)



def gpt2_weights_bytes(lm, dtype=None) -> bytes:
    """The GPT2LMHeadModel's parameters under its own names, as `save_pretrained` stores them
    (metadata format 'pt', the tied projection left out), floats cast to `dtype` if given."""
    from safetensors.torch import save

    state = {name[len(PREFIX):]: tensor.detach().cpu().contiguous() for name, tensor in lm.state_dict().items()}
    state.pop(TIED)
    if dtype is not None:
        state = {name: t.to(dtype) if t.is_floating_point() else t for name, t in state.items()}
    return save(state, metadata={"format": "pt"})


def gpt2_config_bytes(lm) -> bytes:
    """transformers' config.json for the GPT-2, with dtype float32: the precision artengine (and
    so a plain from_pretrained) computes in, whatever the weights are stored in."""
    import copy

    config = copy.deepcopy(lm.gpt.config)
    config.architectures = ["GPT2LMHeadModel"]
    config.dtype = "float32"
    return config.to_json_string(use_diff=True).encode()


def tokenizer_files(tokenizer, text_length: int, folder: Path) -> dict[str, bytes]:
    """The tokenizer's files as transformers' `save_pretrained` writes them (written to a
    temporary folder inside `folder`, read back, so each can then be replaced atomically), with
    a tokenizer_config.json that every transformers the project allows reads."""
    from transformers import PreTrainedTokenizerFast

    from .text import copy_with_row_template

    wrapped = PreTrainedTokenizerFast(tokenizer_object=copy_with_row_template(tokenizer), bos_token="[BOS]",
                                      eos_token="[EOS]", pad_token="[PAD]", unk_token="[UNK]",
                                      model_max_length=text_length)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tokenizer-") as temporary:
        written = wrapped.save_pretrained(temporary)
        files = {Path(path).name: Path(path).read_bytes() for path in written}
    files[TOKENIZER_CONFIG_FILE] = portable_tokenizer_config(files[TOKENIZER_CONFIG_FILE])
    return files


def portable_tokenizer_config(data: bytes) -> bytes:
    """tokenizer_config.json as transformers 4.x reads it too. transformers 5 names its own class,
    `TokenizersBackend`, which 4.x's AutoTokenizer cannot find; `PreTrainedTokenizerFast` is that
    class in both (5.x keeps the name as an alias). `backend` is 5.x's bookkeeping, which it fills
    in by itself, and clean_up_tokenization_spaces is 5.x's default, spelled out for 4.x."""
    config = json.loads(data)
    config.pop("backend", None)
    config.update(tokenizer_class="PreTrainedTokenizerFast", clean_up_tokenization_spaces=False)
    return (json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def save_model(folder: Path, lm, tokenizer, config: dict, card: str, dtype=None) -> None:
    """Write (or replace) the files of a checkpoint folder, each atomically. artengine_dalle.json
    and config.json come last: a folder whose configs name a step holds that step's weights."""
    folder.mkdir(parents=True, exist_ok=True)
    replace_file(folder / WEIGHTS_FILE, gpt2_weights_bytes(lm, dtype))
    for name, data in tokenizer_files(tokenizer, config["layout"]["text_length"], folder).items():
        replace_file(folder / name, data)
    replace_file(folder / CARD_FILE, card.encode())
    settings = {**{key: value for key, value in config.items() if key != "model"},
                "format": FORMAT, "format_version": FORMAT_VERSION}
    replace_file(folder / SETTINGS_FILE, (json.dumps(settings, indent=2) + "\n").encode())
    replace_file(folder / CONFIG_FILE, gpt2_config_bytes(lm))


def load_weights(lm, path: Path) -> None:
    """Load `path` into `lm` strictly, as float32, from GPT2LMHeadModel's own names."""
    import torch
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as error:  # noqa: BLE001 - safetensors raises several kinds
        raise UsageError(f"'{path}' is not a readable safetensors file: {error}") from None
    state = {PREFIX + name: t for name, t in state.items()}
    tied = state.pop(PREFIX + TIED, None)  # a file saved with the projection spelled out
    embedding = state.get(PREFIX + "transformer.wte.weight")
    if tied is not None and embedding is not None and not torch.equal(tied, embedding):
        raise UsageError(f"'{path}': lm_head.weight differs from the embedding; this artengine needs them tied")
    expected = {name: t for name, t in lm.state_dict().items() if name != PREFIX + TIED}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = sorted(n for n in set(expected) & set(state) if expected[n].shape != state[n].shape)
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise UsageError(f"'{path}' does not match its config ({len(missing)} missing, {len(unexpected)} "
                         f"unexpected, {len(wrong)} mis-shaped tensors, e.g. {example})")
    lm.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()}, strict=False)
