"""Captions to DALL·E Mini/Mega's text tokens, as min-dalle makes them.

The text is normalised in Python (emoji spelled out as their names, lower case, ASCII only,
split at spaces); each word, with the BPE's word-start mark `Ġ` in front, is then split into
sub-words by a `tokenizers` BPE model built from vocab.json and merges.txt (read as min-dalle
reads it: `_read_merges`). A row is `<s> tokens </s>` padded with id 1 to the model's text
length (64); a longer one is cut.
"""

from __future__ import annotations

from pathlib import Path

from artengine import UsageError

WORD_START = "\u0120"  # "Ġ": the byte-level BPE's mark for a word that follows a space


def normalise(caption: str) -> list[str]:
    """The words of `caption` as min-dalle reads them."""
    from emoji import demojize

    text = demojize(caption, delimiters=("", "")).lower().encode("ascii", errors="ignore").decode()
    return [word for word in text.split(" ") if word]


class BartTokenizer:
    def __init__(self, vocab: Path, merges: Path):
        from tokenizers import Tokenizer
        from tokenizers.models import BPE

        self.vocab = _read_vocab(vocab)
        pairs = _read_merges(merges)
        try:
            self.tokenizer = Tokenizer(BPE(self.vocab, pairs, unk_token="<unk>"))
        except Exception as error:  # noqa: BLE001 - tokenizers raises bare Exceptions for bad files
            raise UsageError(f"'{merges}' or '{vocab}' is not a readable BPE vocabulary ({error})") from None
        self.bos, self.eos = self.vocab["<s>"], self.vocab["</s>"]

    def ids(self, caption: str) -> list[int]:
        """`<s>`, the caption's token ids, `</s>`."""
        words = [WORD_START + word for word in normalise(caption)]
        found = self.tokenizer.encode(words, is_pretokenized=True).ids if words else []
        return [self.bos, *found, self.eos]

    def row(self, caption: str, length: int) -> list[int]:
        """The caption's ids cut or padded to `length`."""
        from .model import PAD

        ids = self.ids(caption)[:length]
        return ids + [PAD] * (length - len(ids))


def _read_vocab(path: Path) -> dict[str, int]:
    import json

    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"'{path}' is not a readable vocab.json ({error})") from None
    missing = [token for token in ("<s>", "</s>", "<unk>") if token not in vocab]
    if missing:
        raise UsageError(f"'{path}' lacks the special tokens {missing}; it is not DALL·E Mini's vocab.json")
    return vocab


def _read_merges(path: Path) -> list[tuple[str, str]]:
    """The merges of merges.txt in rank order, read as min-dalle (`MinDalle.init_tokenizer`) and
    the format's first reader (OpenAI's GPT-2 encoder) read them: the first line is taken for
    the `#version` header and the file for ending in a newline, so neither the first line nor
    any text after the last newline is a merge, whatever they hold. `tokenizers`' own reader
    keeps such lines, so on a merges.txt without its final newline it gave the words its last
    merge makes other tokens than min-dalle (docs/research/2026-12-06-dalle-mini-equivalence.md).
    Files that `tokenizers` writes have both the header and the newline: there all readers agree."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")[1:-1]
    except (OSError, ValueError) as error:
        raise UsageError(f"'{path}' is not a readable merges.txt ({error})") from None
    pairs = [tuple(line.split()) for line in lines]
    rank = dict(zip(pairs, range(len(pairs))))  # a pair listed twice has its last rank, as in min-dalle
    return sorted((pair for pair in rank if len(pair) == 2), key=rank.__getitem__)
