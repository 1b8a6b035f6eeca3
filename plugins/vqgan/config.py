"""A VQGAN's configuration, in taming's published layout, checked before any model is built.

Published taming configs (.yaml) and the config.json that `artengine train vqgan` writes share
one layout, so one reader serves both:

    model:
      target: taming.models.vqgan.VQModel      # or ...GumbelVQ; read as a label, never imported
      params:
        n_embed: 16384
        embed_dim: 256
        ddconfig: {double_z: false, z_channels: 256, resolution: 256, in_channels: 3,
                   out_ch: 3, ch: 128, ch_mult: [1, 1, 2, 2, 4], num_res_blocks: 2,
                   attn_resolutions: [16], dropout: 0.0}

This module imports neither torch nor taming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artengine import UsageError

DDCONFIG_INTS = ("ch", "out_ch", "num_res_blocks", "in_channels", "resolution", "z_channels")
GROUPNORM_GROUPS = 32  # taming's Normalize: every channel count must be a multiple of this
NORMS = ("group", "none")
"""ddconfig.decoder_norm, our one addition to taming's config: 'group' (taming's GroupNorm, the
default and what every published model uses) or 'none' (the decoder's GroupNorm layers left
out, see model.py). taming's own Encoder and Decoder ignore the key."""


@dataclass(frozen=True)
class VQGANConfig:
    """What it takes to build a VQGAN: taming's ddconfig plus the quantizer's settings."""

    ddconfig: dict
    n_embed: int
    embed_dim: int
    quantizer: str = "vq"
    """'vq' (taming's VectorQuantizer2, VQModel) or 'gumbel' (GumbelQuantize, GumbelVQ)."""
    kl_weight: float = 5e-4
    """GumbelVQ only: weight of the KL term to the uniform prior."""
    extra: dict = field(default_factory=dict)
    """Everything else the file held beside `model` (a model card, training settings)."""

    @property
    def factor(self) -> int:
        """Side of the image patch one code stands for: 2 ** (number of levels - 1)."""
        return 2 ** (len(self.ddconfig["ch_mult"]) - 1)

    def to_dict(self) -> dict:
        target = "taming.models.vqgan.GumbelVQ" if self.quantizer == "gumbel" else "taming.models.vqgan.VQModel"
        params: dict[str, Any] = {"n_embed": self.n_embed, "embed_dim": self.embed_dim, "ddconfig": dict(self.ddconfig)}
        if self.quantizer == "gumbel":
            params["kl_weight"] = self.kl_weight
        return {"model": {"target": target, "params": params}, **self.extra}


def config_from_dict(data: Any, where: str) -> VQGANConfig:
    """Check a parsed config (taming layout) and return it; UsageError names `where` and the fault."""
    model = data.get("model") if isinstance(data, dict) else None
    params = model.get("params") if isinstance(model, dict) else None
    if not isinstance(params, dict):
        raise UsageError(f"{where}: not a VQGAN config: expected 'model: params:' with ddconfig, n_embed, embed_dim")
    target = str(model.get("target", "taming.models.vqgan.VQModel"))
    quantizer = "gumbel" if target.endswith("GumbelVQ") else "vq"
    if params.get("remap"):
        raise UsageError(f"{where}: codebook remapping (model.params.remap) is not supported")
    ddconfig = params.get("ddconfig")
    if not isinstance(ddconfig, dict):
        raise UsageError(f"{where}: model.params.ddconfig is missing or not a mapping")
    ddconfig = _check_ddconfig(dict(ddconfig), where)
    n_embed = _positive_int(params.get("n_embed"), f"{where}: model.params.n_embed")
    embed_dim = _positive_int(params.get("embed_dim"), f"{where}: model.params.embed_dim")
    if quantizer == "gumbel" and ddconfig["z_channels"] != embed_dim:
        raise UsageError(f"{where}: a GumbelVQ needs ddconfig.z_channels == embed_dim (taming's layout)")
    kl_weight = params.get("kl_weight", 5e-4)
    if not isinstance(kl_weight, (int, float)) or isinstance(kl_weight, bool):
        raise UsageError(f"{where}: model.params.kl_weight must be a number")
    extra = {key: value for key, value in data.items() if key != "model"}
    return VQGANConfig(ddconfig, n_embed, embed_dim, quantizer, float(kl_weight), extra)


def _check_ddconfig(ddconfig: dict, where: str) -> dict:
    for key in DDCONFIG_INTS:
        _positive_int(ddconfig.get(key), f"{where}: ddconfig.{key}")
    if ddconfig.get("double_z", True):
        raise UsageError(f"{where}: ddconfig.double_z must be false for a VQGAN")
    for key in ("ch_mult", "attn_resolutions"):
        value = ddconfig.get(key)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise UsageError(f"{where}: ddconfig.{key} must be a list of integers")
        ddconfig[key] = list(value)
    if not ddconfig["ch_mult"] or min(ddconfig["ch_mult"]) < 1:
        raise UsageError(f"{where}: ddconfig.ch_mult must list at least one positive multiplier")
    if ddconfig["in_channels"] != 3 or ddconfig["out_ch"] != 3:
        raise UsageError(f"{where}: only RGB models (in_channels 3, out_ch 3) are supported")
    dropout = ddconfig.get("dropout", 0.0)
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise UsageError(f"{where}: ddconfig.dropout must be a number in [0, 1)")
    if any(ddconfig["ch"] * m % GROUPNORM_GROUPS for m in ddconfig["ch_mult"]):  # the encoder's GroupNorms
        raise UsageError(f"{where}: ddconfig.ch times each ch_mult must be a multiple of {GROUPNORM_GROUPS} (group norm)")
    norm = ddconfig.get("decoder_norm", "group")
    if norm not in NORMS:
        raise UsageError(f"{where}: ddconfig.decoder_norm must be one of {', '.join(NORMS)}, got {norm!r}")
    ddconfig["double_z"] = False
    ddconfig["dropout"] = float(dropout)
    return ddconfig


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{where} must be a positive integer, got {value!r}")
    return value


def read_config(path: Path) -> VQGANConfig:
    """A published taming .yaml or our config.json (same layout)."""
    if not path.is_file():
        raise UsageError(f"VQGAN config '{path}' does not exist")
    import artengine

    text = artengine.read_user_file(path, "VQGAN config").decode("utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)  # safe_load: a config builds no Python objects
    except Exception as error:  # noqa: BLE001 - any parse failure is the file's fault
        raise UsageError(f"VQGAN config '{path}' could not be parsed: {str(error).splitlines()[0]}") from None
    return config_from_dict(data, f"VQGAN config '{path}'")
