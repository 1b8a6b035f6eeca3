"""The VQGAN model, assembled from taming-transformers' own modules.

`taming.models.vqgan` is not imported: it imports `taming.main`, which fails with current
pytorch-lightning. The submodules below carry taming's parameter names (`encoder.`, `decoder.`,
`quant_conv.`, `post_quant_conv.`, `quantize.embedding.weight`; for GumbelVQ `quantize.proj.`
and `quantize.embed.weight`), so the state_dict of a published checkpoint loads as it is.

Images cross this interface in [0, 1]; taming's networks work in [-1, 1] inside.

A config whose decoder lacks GroupNorm names this class as its target (config.VARIANT), and
the class takes a config's params as taming's VQModel does, so taming's `instantiate_from_config`
builds it rather than a VQModel that the weights do not fit.
"""

from __future__ import annotations

import contextlib
import io
import threading

import torch
from torch import nn

from artengine import UsageError

from .config import VARIANT, VQGANConfig, config_from_dict

TAMING_PARAMS = ("ddconfig", "n_embed", "embed_dim")


class VQGAN(nn.Module):
    """An image tokenizer and decoder.

    - `encode(images)`: images B x 3 x H x W in [0, 1] -> codes B x h x w (long), h = H / factor
    - `decode(codes)`: codes B x h x w -> images B x 3 x H x W in [0, 1]
    - `embed(codes)`: codes -> latents B x embed_dim x h x w (the codebook vectors)
    - `decode_latents(z)`: latents -> images in [0, 1]; differentiable in z (the clamp to
      [0, 1] passes gradients through unchanged, so optimisers can pull values back in range)
    - `codebook`: the n_embed x embed_dim tensor of code vectors
    - `factor`: the downsampling factor (16 for taming's f16 models, 8 for f8)
    """

    def __init__(self, config: VQGANConfig | None = None, **params):
        """`VQGAN(config)`; or `VQGAN(ddconfig=..., n_embed=..., embed_dim=...)`, the config file's
        model.params, as taming's `instantiate_from_config` calls a config's target."""
        super().__init__()
        if config is None:
            unknown = sorted(set(params) - set(TAMING_PARAMS))
            if unknown:  # e.g. taming's ckpt_path: never leave a model with random weights unsaid
                raise TypeError(f"VQGAN takes only {', '.join(TAMING_PARAMS)} as params, not {', '.join(unknown)}; "
                                "load the weights with load_state_dict(safetensors.torch.load_file(...))")
            config = config_from_dict({"model": {"target": VARIANT, "params": params}}, "VQGAN(**params)")
        from taming.modules.diffusionmodules.model import Decoder, Encoder
        from taming.modules.vqvae.quantize import GumbelQuantize, VectorQuantizer2

        self.config = config
        dd = config.ddconfig
        with contextlib.redirect_stdout(io.StringIO()):  # taming's Decoder prints its z shape
            self.encoder = Encoder(**dd)
            with taming_norm(dd.get("decoder_norm", "group")):
                self.decoder = Decoder(**dd)
        if config.quantizer == "gumbel":
            self.quantize = GumbelQuantize(
                dd["z_channels"], config.embed_dim, n_embed=config.n_embed, kl_weight=config.kl_weight, temp_init=1.0
            )
        else:
            # legacy=False: beta weighs the commitment term (taming's fix, used only in training)
            self.quantize = VectorQuantizer2(config.n_embed, config.embed_dim, beta=0.25, legacy=False)
        self.quant_conv = nn.Conv2d(dd["z_channels"], config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, dd["z_channels"], 1)

    # -- facts ---------------------------------------------------------------------

    @property
    def factor(self) -> int:
        return self.config.factor

    @property
    def n_embed(self) -> int:
        return self.config.n_embed

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def codebook(self) -> torch.Tensor:
        quantize = self.quantize
        return quantize.embed.weight if self.config.quantizer == "gumbel" else quantize.embedding.weight

    @property
    def device(self) -> torch.device:
        return self.codebook.device

    # -- the interface -------------------------------------------------------------------

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes B x h x w (long) of images B x 3 x H x W in [0, 1]; H and W multiples of `factor`."""
        h = self.pre_quantization(images)
        if self.config.quantizer == "gumbel":
            # the most likely code: deterministic, unlike a Gumbel sample
            return self.quantize.proj(h).argmax(dim=1)
        return self.nearest_codes(h)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images B x 3 x H x W in [0, 1] from codes B x h x w."""
        return self.decode_latents(self.embed(codes))

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """The codebook vectors of codes B x h x w, as latents B x embed_dim x h x w."""
        if codes.dim() != 3:
            raise UsageError(f"codes must be B x h x w, got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.n_embed):
            raise UsageError(f"codes must lie in [0, {self.n_embed - 1}] for this codebook")
        return self.codebook[codes.long()].permute(0, 3, 1, 2).contiguous()

    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from latents B x embed_dim x h x w (quantized or not)."""
        images = (self.decoder(self.post_quant_conv(z)) + 1) / 2
        return images + (images.clamp(0, 1) - images).detach()

    # -- pieces for training and for generators that work between the steps ----------

    def pre_quantization(self, images: torch.Tensor) -> torch.Tensor:
        """The continuous latents B x embed_dim x h x w that the quantizer rounds to codes."""
        self._check_images(images)
        return self.quant_conv(self.encoder(images * 2 - 1))

    def forward(self, images: torch.Tensor):
        """The training pass (what DistributedDataParallel runs): images in [0, 1] ->
        (reconstruction in [-1, 1], the quantizer's loss, latents h, codes)."""
        h = self.pre_quantization(images)
        quantized, quantizer_loss, (_, _, codes) = self.quantize(h)
        return self.decoder(self.post_quant_conv(quantized)), quantizer_loss, h, codes

    def nearest_codes(self, h: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook vector at each position of latents B x D x h x w."""
        flat = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        codebook = self.codebook
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)[None]
        return distances.argmin(dim=1).view(h.shape[0], h.shape[2], h.shape[3])

    def _check_images(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise UsageError(f"images must be B x 3 x H x W, got shape {tuple(images.shape)}")
        if images.shape[2] % self.factor or images.shape[3] % self.factor:
            raise UsageError(
                f"image size {images.shape[3]}x{images.shape[2]} must be a multiple of {self.factor} "
                f"for this VQGAN (factor {self.factor})"
            )


_TAMING_BUILD = threading.Lock()


@contextlib.contextmanager
def taming_norm(norm: str):
    """Build a taming network with its GroupNorm layers ('group') or without them ('none').

    GroupNorm normalises each image as a whole, so the absolute level of flat regions, which
    is all a flat-colour image is made of, only survives in awkward, content-dependent forms:
    a taming decoder (ch 32) given the true 8x8 colours reached 24.4 dB after 400 steps
    without it and 20.4-21.3 dB with it (1, 8 or 32 groups). The encoder keeps its norms: a
    whole model without them collapsed early in training. The other parameters keep taming's
    names; the norm layers' own weights are simply absent.
    """
    from taming.modules.diffusionmodules import model as taming_model

    # the swap is global to taming's module: a network built meanwhile in another thread (the
    # web UI loads models in its workers) would get the wrong norms, so every build holds the lock
    with _TAMING_BUILD:
        if norm == "group":
            yield
            return
        original = taming_model.Normalize
        taming_model.Normalize = lambda in_channels: nn.Identity()
        try:
            yield
        finally:
            taming_model.Normalize = original
