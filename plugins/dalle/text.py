"""Captions to fixed-length token rows, with a `tokenizers` BPE trained on the captions."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from artengine import UsageError

from .layout import BOS, EOS, PAD, SPECIAL_TOKENS

TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(captions: Iterable[str], vocab_size: int):
    """A lower-casing BPE tokenizer learned from `captions` (at most `vocab_size` tokens)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(captions, trainer)
    for index, token in enumerate(SPECIAL_TOKENS):  # layout.PAD etc. rely on these ids
        assert tokenizer.token_to_id(token) == index
    return copy_with_row_template(tokenizer)


def copy_with_row_template(tokenizer):
    """A copy that adds [BOS] and [EOS] around a caption when asked for special tokens, so that
    transformers' tokenizer over these files pads and cuts captions into exactly `text_rows`'
    rows. artengine itself encodes without them (`caption_ids`), so its ids do not depend on
    the template."""
    from tokenizers import Tokenizer, processors

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS), ("[EOS]", EOS)])
    return copy


def load_tokenizer(folder: Path):
    from tokenizers import Tokenizer

    path = folder / TOKENIZER_FILE
    if not path.is_file():
        raise UsageError(f"'{folder}' has no {TOKENIZER_FILE}; a dalle checkpoint folder holds one")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
        raise UsageError(f"'{path}' is not a readable tokenizer file ({error}); copy the checkpoint again") from None


def caption_ids(tokenizer, caption: str) -> list[int]:
    """The caption's token ids, without [BOS]/[EOS]."""
    return tokenizer.encode(caption, add_special_tokens=False).ids


def text_rows(tokenizer, captions: list[str], text_length: int) -> list[list[int]]:
    """[BOS] caption [EOS] [PAD]... rows of exactly `text_length` ids; long captions are cut.

    The empty caption "" gives the null row that classifier-free guidance contrasts with.
    """
    rows = []
    for caption in captions:
        ids = caption_ids(tokenizer, caption)[: text_length - 2] if caption else []
        row = [BOS, *ids, EOS]
        rows.append(row + [PAD] * (text_length - len(row)))
    return rows
