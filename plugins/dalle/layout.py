"""Where every token lives: the joint vocabulary and the sequence layout.

Vocabulary (one embedding table):

    [0, text_vocab)                      text tokens ([PAD], [UNK], [BOS], [EOS] first)
    [text_vocab, text_vocab + n_codes)   image codes, code c is token text_vocab + c
    text_vocab + n_codes                 <image>: marks where the image starts

Sequence (positions, all learned):

    0 .. text_length-1        [BOS] caption [EOS] [PAD]...
    text_length               <image>
    text_length+1 .. +N       the N = rows * cols codes, row by row

The model reads the first text_length + N tokens; the logits at positions
text_length .. text_length+N-1 predict the N codes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


@dataclass(frozen=True)
class Layout:
    text_vocab: int
    n_codes: int
    text_length: int
    rows: int
    cols: int

    @property
    def image_tokens(self) -> int:
        return self.rows * self.cols

    @property
    def code_offset(self) -> int:
        """Token id of code 0."""
        return self.text_vocab

    @property
    def image_start(self) -> int:
        """Token id of <image>."""
        return self.text_vocab + self.n_codes

    @property
    def vocab_size(self) -> int:
        return self.text_vocab + self.n_codes + 1

    @property
    def positions(self) -> int:
        """Length of the sequence the model reads."""
        return self.text_length + self.image_tokens

    def as_dict(self) -> dict:
        return asdict(self)
