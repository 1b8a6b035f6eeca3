"""A folder in min-dalle's layout with random weights, to try `dalle-bart:` offline.

`artengine data dalle-bart-random DIR --size tiny|mini|mega` writes it. The files are what
min-dalle reads (its own classes load them, which the tests check), with random parameters
(layer norms drawn around 1 and 0, so that every tensor matters) and a BPE vocabulary trained
on a few sentences. The images are noise: the folder exercises the code, not the art.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import artengine
import artengine.files
from artengine import UsageError

SIZES = {
    # layers, width, GLU width, text vocabulary, image vocabulary (start token included)
    "tiny": dict(layers=2, width=128, glu=256, text_vocab=2048, image_vocab=16385),
    "mini": dict(layers=12, width=1024, glu=2730, text_vocab=50264, image_vocab=16385),
    "mega": dict(layers=24, width=2048, glu=4096, text_vocab=50272, image_vocab=16416),
}
VQGAN_WIDTHS = {"tiny": 32, "mini": 128, "mega": 128}
"""The VQGAN decoder's base channels; 128 is DALL·E Mini's own (min-dalle's fixed size)."""
SENTENCES = (
    "an avocado armchair", "a red circle on the left", "a painting of a fox in the snow",
    "a photo of a cat sitting on a sofa", "the skyline of a city at night, lit by the moon",
    "a bowl of soup that looks like a monster, knitted out of wool", "a blue square and a green triangle",
    "sunset over the sea with boats and birds", "a portrait of a dog wearing glasses",
)
SPECIAL = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in BART's vocabulary


def train_vocabulary(folder: Path, size: int) -> None:
    """vocab.json and merges.txt of a BPE over the sentences' words, each with its word-start mark."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from .text import WORD_START

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    alphabet = [c for c in string.printable if not c.isspace()] + [WORD_START]
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=list(SPECIAL), initial_alphabet=alphabet,
                                  show_progress=False)
    words = [" ".join(WORD_START + word for word in sentence.split()) for sentence in SENTENCES]
    tokenizer.train_from_iterator(words, trainer)
    tokenizer.model.save(str(folder))


def _jitter_norms(module, generator) -> None:
    import torch

    for sub in module.modules():
        if isinstance(sub, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            sub.weight.data = 1 + 0.1 * torch.randn(sub.weight.shape, generator=generator)
            sub.bias.data = 0.1 * torch.randn(sub.bias.shape, generator=generator)


def write_random_folder(out: Path, size: str = "tiny", seed: int = 0, image_encoder: bool = True,
                        vqgan_channels: int | None = None) -> Path:
    """Write DIR/dalle_bart_{mini|mega}/ (tiny models go in dalle_bart_mini/) and DIR/vqgan/;
    `vqgan_channels` overrides the VQGAN's base width (128 is the size min-dalle's class has)."""
    import torch

    from .detokenizer import Detokenizer
    from .model import BartDecoder, BartEncoder, BartShape

    dims = SIZES[size]
    model = out / ("dalle_bart_mega" if size == "mega" else "dalle_bart_mini")
    vqgan = out / "vqgan"
    artengine.files.claim_folder(out, "dalle-bart model", "OUT")  # only a new or empty folder (or its own) is written into
    for path in (model, vqgan / "detoker.pt"):
        if path.exists():
            raise UsageError(f"'{path}' exists; give an empty or new folder (nothing is overwritten)")
    model.mkdir(parents=True)
    vqgan.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nn's initialisers draw from the global generator
    shape = BartShape(text_length=64, image_tokens=256, **dims)
    for name, module in (("encoder.pt", BartEncoder(shape)), ("decoder.pt", BartDecoder(shape))):
        _jitter_norms(module, generator)
        torch.save(module.state_dict(), model / name)
        del module
    train_vocabulary(model, min(dims["text_vocab"], 1024))
    ch = vqgan_channels or VQGAN_WIDTHS[size]
    config = dict(ch=ch, out_ch=3, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], in_channels=3,
                  resolution=256, z_channels=256, dropout=0.0)
    detokenizer = Detokenizer(2**14, 256, config, dict(config, double_z=False) if image_encoder else None)
    _jitter_norms(detokenizer, generator)
    state = detokenizer.state_dict()
    own = ("encoder.", "quant_conv.")
    torch.save({k: v for k, v in state.items() if not k.startswith(own)}, vqgan / "detoker.pt")
    if image_encoder:
        torch.save({k: v for k, v in state.items() if k.startswith(own)}, vqgan / "encoder.pt")
    (model / "README.md").write_text(
        f"Random weights in min-dalle's layout ({size}: {json.dumps(dims)}), written by "
        f"`artengine data dalle-bart-random --size {size} --seed {seed}`. Its images are noise.\n", encoding="utf-8")
    return model
