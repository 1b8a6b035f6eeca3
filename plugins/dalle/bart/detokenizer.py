"""DALL·E Mini's VQGAN (f16, 16,384 codes) on taming's modules, sized from its tensors.

min-dalle's detoker.pt holds the codebook (`embedding.weight`), `post_quant_conv` and a
decoder whose tensors carry taming's names, so it loads into taming's `Decoder` as it is.
Only decoding is in min-dalle's files; priming from an image also needs the VQGAN's encoder
(`vqgan/encoder.pt`: taming's `encoder.*` and `quant_conv.*`), which is optional.

The VQGAN writes pixels in [0, 1] (min-dalle clamps its output to that range, unlike taming's
own [-1, 1] models), and the encoder is taken to read the same range.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import torch
from torch import nn

from artengine import UsageError

from .folder import check_tensors, tensor

DECODE_CHUNK = 4
"""Images decoded at once: at 256 x 256 one image's activations take a few hundred MB."""


def _levels(state: dict, prefix: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state if (m := re.match(rf"{prefix}\.(\d+)\.", key))})


def _blocks(state: dict, prefix: str) -> int:
    return len({m.group(1) for key in state if (m := re.match(rf"{prefix}\.(\d+)\.", key))})


def decoder_config(state: dict, side: int, path: Path) -> dict:
    """taming's Decoder arguments that make a module with these tensors, for a side x side grid."""
    levels = _levels(state, "decoder.up")
    if not levels:
        raise UsageError(f"'{path}' has no decoder.up.N.* tensors; it is not min-dalle's detoker.pt")
    ch = tensor(state, "decoder.conv_out.weight", path, 4).shape[1]
    mult = [tensor(state, f"decoder.up.{i}.block.0.conv1.weight", path, 4).shape[0] // ch for i in levels]
    resolution = side * 2 ** (len(levels) - 1)
    attn = [resolution // 2**i for i in levels if f"decoder.up.{i}.attn.0.q.weight" in state]
    return dict(ch=ch, out_ch=3, ch_mult=mult, num_res_blocks=_blocks(state, "decoder.up.0.block") - 1,
                attn_resolutions=attn, in_channels=3, resolution=resolution,
                z_channels=tensor(state, "decoder.conv_in.weight", path, 4).shape[1], dropout=0.0)


def encoder_config(state: dict, side: int, path: Path) -> dict:
    levels = _levels(state, "encoder.down")
    if not levels:
        raise UsageError(f"'{path}' has no encoder.down.N.* tensors; it is not a taming VQGAN encoder")
    ch = tensor(state, "encoder.conv_in.weight", path, 4).shape[0]
    mult = [tensor(state, f"encoder.down.{i}.block.0.conv1.weight", path, 4).shape[0] // ch for i in levels]
    resolution = side * 2 ** (len(levels) - 1)
    attn = [resolution // 2**i for i in levels if f"encoder.down.{i}.attn.0.q.weight" in state]
    return dict(ch=ch, out_ch=3, ch_mult=mult, num_res_blocks=_blocks(state, "encoder.down.0.block"),
                attn_resolutions=attn, in_channels=3, resolution=resolution, double_z=False,
                z_channels=tensor(state, "encoder.conv_out.weight", path, 4).shape[0], dropout=0.0)


class Detokenizer(nn.Module):
    """The VQGAN interface the dalle generator uses: `decode`, `encode`, `codebook`, `factor`."""

    def __init__(self, n_codes: int, dim: int, decoder: dict, encoder: dict | None = None):
        super().__init__()
        from taming.modules.diffusionmodules.model import Decoder, Encoder

        self.embedding = nn.Embedding(n_codes, dim)
        self.post_quant_conv = nn.Conv2d(dim, decoder["z_channels"], 1)
        with contextlib.redirect_stdout(io.StringIO()):  # taming's Decoder prints its z shape
            self.decoder = Decoder(**decoder)
        self.factor = 2 ** (len(decoder["ch_mult"]) - 1)
        self.encoder = self.quant_conv = None
        if encoder is not None:
            self.encoder = Encoder(**encoder)
            self.quant_conv = nn.Conv2d(encoder["z_channels"], dim, 1)

    @property
    def codebook(self) -> torch.Tensor:
        return self.embedding.weight

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images B x 3 x H x W in [0, 1] from codes B x h x w, a few images at a time."""
        return torch.cat([self._decode(chunk) for chunk in codes.split(DECODE_CHUNK)])

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        latents = self.embedding(codes).permute(0, 3, 1, 2)
        return self.decoder(self.post_quant_conv(latents)).clamp(0, 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes B x h x w of images B x 3 x H x W in [0, 1]: the nearest codebook vectors."""
        if self.encoder is None:
            raise UsageError("generator.init_image: priming needs the VQGAN's encoder, which min-dalle's files do "
                             "not include; put a taming VQGAN f16-16384 encoder at vqgan/encoder.pt (docs/dalle.md)")
        latents = self.quant_conv(self.encoder(images)).permute(0, 2, 3, 1)
        return torch.cdist(latents.flatten(1, 2), self.codebook[None]).argmin(-1).view(latents.shape[:3])


def load_detokenizer(path: Path, encoder_path: Path | None, side: int) -> Detokenizer:
    from .folder import read_state

    state = read_state(path)
    codebook = tensor(state, "embedding.weight", path, 2)
    encoder_state, encoder = {}, None
    if encoder_path is not None:
        encoder_state = read_state(encoder_path)
        encoder = encoder_config(encoder_state, side, encoder_path)
    with torch.device("meta"):
        module = Detokenizer(*codebook.shape, decoder_config(state, side, path), encoder)
    expected = module.state_dict()
    own = ("encoder.", "quant_conv.")  # the optional encoder file's tensors
    check_tensors({k: v for k, v in expected.items() if not k.startswith(own)}, state, path)
    check_tensors({k: v for k, v in expected.items() if k.startswith(own)}, encoder_state, encoder_path)
    merged = {**state, **encoder_state}
    module.load_state_dict({key: merged[key].float() for key in expected}, strict=True, assign=True)
    return module
