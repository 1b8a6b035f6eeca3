"""min-dalle's folder of converted DALL·E Mini/Mega weights, read safely and checked.

    DIR/dalle_bart_mini/  or  DIR/dalle_bart_mega/
        vocab.json, merges.txt     the BPE tokenizer
        encoder.pt, decoder.pt     state dicts of the text encoder and the image decoder
    DIR/vqgan/detoker.pt           the VQGAN f16 decoder (codebook, post_quant_conv, decoder.*)
    DIR/vqgan/encoder.pt           optional, not in min-dalle: a taming VQGAN's encoder.* and
                                   quant_conv.*, needed only to prime from an image

The .pt files are read by artengine's checkpoint reader, which never runs code from a pickle.
Every size is read from the tensors' shapes; Mini and Mega differ only in those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from artengine import UsageError

VARIANTS = ("dalle_bart_mega", "dalle_bart_mini")
MODEL_FILES = ("vocab.json", "merges.txt", "encoder.pt", "decoder.pt")
DETOKENIZER = Path("vqgan") / "detoker.pt"
IMAGE_ENCODER = Path("vqgan") / "encoder.pt"


@dataclass(frozen=True)
class Files:
    model: Path
    """The dalle_bart_mini/ or dalle_bart_mega/ folder."""
    root: Path

    def __getitem__(self, name: str) -> Path:
        return self.model / name

    @property
    def detokenizer(self) -> Path:
        return self.root / DETOKENIZER

    @property
    def image_encoder(self) -> Path | None:
        path = self.root / IMAGE_ENCODER
        return path if path.is_file() else None


def locate(name: str) -> Files:
    """The files of `dalle-bart:NAME`: NAME is min-dalle's models folder (holding one of the two
    model folders) or one model folder itself."""
    where = Path(name).expanduser()
    spec = f"dalle-bart:{name}"
    if not where.is_dir():
        raise UsageError(f"{spec}: no such folder; give min-dalle's models folder (with dalle_bart_mini/ or "
                         "dalle_bart_mega/ and vqgan/detoker.pt); docs/dalle.md says where the files come from")
    if where.name in VARIANTS:
        model, root = where, where.parent
    else:
        found = [where / v for v in VARIANTS if (where / v).is_dir()]
        if not found:
            raise UsageError(f"{spec}: '{where}' has neither dalle_bart_mini/ nor dalle_bart_mega/; "
                             "is it min-dalle's models folder?")
        if len(found) > 1:
            raise UsageError(f"{spec}: '{where}' holds both models; name one, e.g. dalle-bart:{found[0]}")
        model, root = found[0], where
    files = Files(model, root)
    for path in [files[f] for f in MODEL_FILES] + [files.detokenizer]:
        if not path.is_file():
            raise UsageError(f"{spec}: '{path}' is missing; copy it from min-dalle's download "
                             "(docs/dalle.md, DALL·E Mini and Mega)")
    return files


def read_state(path: Path) -> dict:
    """The tensors of a state dict file, read without running code from it."""
    import torch

    from artengine.files import read_checkpoint

    state = read_checkpoint(path)
    if "state_dict" in state and isinstance(state["state_dict"], dict):  # a Lightning checkpoint
        state = state["state_dict"]
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise UsageError(f"'{path}' holds no tensors; is it one of min-dalle's weight files?")
    return tensors


def tensor(state: dict, key: str, path: Path, dims: int):
    if key not in state:
        raise UsageError(f"'{path}' lacks the tensor {key}; it is not the file its name says (or not min-dalle's)")
    found = state[key]
    if found.dim() != dims:
        raise UsageError(f"'{path}': {key} has shape {tuple(found.shape)}, expected {dims} dimensions")
    return found


def layer_count(state: dict, path: Path) -> int:
    indices = {int(m.group(1)) for key in state if (m := re.match(r"layers\.(\d+)\.", key))}
    if not indices:
        raise UsageError(f"'{path}' has no layers.N.* tensors; it is not one of min-dalle's BART files")
    if len(indices) != max(indices) + 1:  # also bounds the count by the file's tensors before building
        gap = min(set(range(max(indices) + 1)) - indices)
        raise UsageError(f"'{path}' has tensors of layers.{max(indices)} but none of layers.{gap}; "
                         "the file is incomplete or not min-dalle's")
    return max(indices) + 1


def bart_shape(encoder: dict, decoder: dict, files: Files):
    """The model's sizes, read from the two state dicts."""
    from .model import HEAD_WIDTH, BartShape

    enc, dec = files["encoder.pt"], files["decoder.pt"]
    text_vocab, width = tensor(encoder, "embed_tokens.weight", enc, 2).shape
    text_length = tensor(encoder, "embed_positions.weight", enc, 2).shape[0]
    glu = tensor(encoder, "layers.0.glu.fc0.weight", enc, 2).shape[0]
    image_vocab = tensor(decoder, "embed_tokens.weight", dec, 2).shape[0]
    image_tokens = tensor(decoder, "embed_positions.weight", dec, 2).shape[0]
    layers = layer_count(encoder, enc)
    if width % HEAD_WIDTH:
        raise UsageError(f"'{enc}': width {width} is not a multiple of {HEAD_WIDTH}, the heads' width in "
                         "DALL·E Mini and Mega")
    if round(image_tokens**0.5) ** 2 != image_tokens:
        raise UsageError(f"'{dec}': {image_tokens} image positions do not make a square grid of codes")
    return BartShape(layers, width, glu, text_vocab, text_length, image_vocab, image_tokens)


def check_tensors(expected: dict, state: dict, path: Path) -> None:
    """Refuse a missing or mis-shaped tensor with one line; extra tensors are ignored, as
    min-dalle ignores them."""
    for key, value in expected.items():
        if key not in state:
            raise UsageError(f"'{path}' lacks the tensor {key}; the file is incomplete or not min-dalle's")
        if tuple(state[key].shape) != tuple(value.shape):
            raise UsageError(f"'{path}': {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)} "
                             "from the file's other tensors; the file does not belong with the rest")


def load_checked(module, state: dict, path: Path) -> None:
    """Load `state` into `module` (built on the meta device from the read sizes), checked."""
    expected = module.state_dict()
    check_tensors(expected, state, path)
    module.load_state_dict({key: state[key].float() for key in expected}, strict=True, assign=True)
