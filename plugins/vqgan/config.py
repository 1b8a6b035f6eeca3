"""A VQGAN's configuration, in taming's published layout, checked before any model is built.

Published taming configs (.yaml) and the config.json that `artengine train vqgan` writes share
one layout, so one reader serves both:

    model:
      target: taming.models.vqgan.VQModel      # read as a label here, never imported
      params:
        n_embed: 16384
        embed_dim: 256
        ddconfig: {double_z: false, z_channels: 256, resolution: 256, in_channels: 3,
                   out_ch: 3, ch: 128, ch_mult: [1, 1, 2, 2, 4], num_res_blocks: 2,
                   attn_resolutions: [16], dropout: 0.0}

The target names what the weights are. taming's own targets (VQModel, GumbelVQ) are models
taming builds as written; artengine's variant, whose decoder may lack its GroupNorm layers
(`ddconfig.decoder_norm: none`), has a target of its own (VARIANT), so that taming's
`instantiate_from_config` builds artengine's class (which takes these params) instead of a
VQModel that would quietly ignore `decoder_norm` and decode garbage. For the same reason a
config is refused when it holds a ddconfig key its target would drop.

This module imports neither torch nor taming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artengine import UsageError

DDCONFIG_INTS = ("ch", "out_ch", "num_res_blocks", "in_channels", "resolution", "z_channels")
TAMING_VQ, TAMING_GUMBEL = "taming.models.vqgan.VQModel", "taming.models.vqgan.GumbelVQ"
VARIANT = "artengine.plugins.vqgan.model.VQGAN"
TARGETS = {TAMING_VQ: "vq", TAMING_GUMBEL: "gumbel", VARIANT: "vq"}  # target -> quantizer
# what taming's Encoder and Decoder read from ddconfig; both swallow any other key (**ignore_kwargs)
TAMING_DDCONFIG_KEYS = frozenset({"ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "dropout",
                                  "resamp_with_conv", "in_channels", "resolution", "z_channels", "double_z",
                                  "give_pre_end"})
GROUPNORM_GROUPS = 32  # taming's Normalize: every channel count must be a multiple of this
NORMS = ("group", "none")
"""ddconfig.decoder_norm, the variant's one addition to taming's config: 'group' (taming's
GroupNorm, the default and what every published model uses) or 'none' (the decoder's GroupNorm
layers left out, see model.py). taming's own Encoder and Decoder ignore the key."""


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

    @property
    def target(self) -> str:
        """taming's class where taming builds these weights as they are, else artengine's variant."""
        if self.ddconfig.get("decoder_norm", "group") != "group":
            return VARIANT
        return TAMING_GUMBEL if self.quantizer == "gumbel" else TAMING_VQ

    def to_dict(self) -> dict:
        target, ddconfig = self.target, dict(self.ddconfig)
        if target != VARIANT:  # a plain taming model: its config holds only what taming reads
            ddconfig.pop("decoder_norm", None)
        params: dict[str, Any] = {"n_embed": self.n_embed, "embed_dim": self.embed_dim, "ddconfig": ddconfig}
        if self.quantizer == "gumbel":
            params["kl_weight"] = self.kl_weight
        return {"model": {"target": target, "params": params}, **self.extra}


def config_from_dict(data: Any, where: str) -> VQGANConfig:
    """Check a parsed config (taming layout) and return it; UsageError names `where` and the fault."""
    model = data.get("model") if isinstance(data, dict) else None
    params = model.get("params") if isinstance(model, dict) else None
    if not isinstance(params, dict):
        raise UsageError(f"{where}: not a VQGAN config: expected 'model: params:' with ddconfig, n_embed, embed_dim")
    target = str(model.get("target", TAMING_VQ))
    if target not in TARGETS:
        raise UsageError(f"{where}: model.target {target!r} is not a VQGAN artengine builds; "
                         f"it builds {', '.join(TARGETS)}")
    quantizer = TARGETS[target]
    if params.get("remap"):
        raise UsageError(f"{where}: codebook remapping (model.params.remap) is not supported")
    ddconfig = params.get("ddconfig")
    if not isinstance(ddconfig, dict):
        raise UsageError(f"{where}: model.params.ddconfig is missing or not a mapping")
    ddconfig = _check_ddconfig(dict(ddconfig), where)
    _check_nothing_dropped(ddconfig, target, where)
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


def _check_nothing_dropped(ddconfig: dict, target: str, where: str) -> None:
    """Refuse a ddconfig key that the target's classes would silently ignore: whoever builds
    the model from this config, taming or artengine, must get the network the weights fit."""
    norm = ddconfig.get("decoder_norm", "group")
    if target != VARIANT and norm != "group":  # 'group' is what taming builds anyway
        raise UsageError(f"{where}: ddconfig.decoder_norm {norm!r} (a decoder without GroupNorm) is artengine's "
                         f"variant, which {target} would build with GroupNorm; set model.target to {VARIANT}")
    unread = sorted(set(ddconfig) - TAMING_DDCONFIG_KEYS - {"decoder_norm"})
    if unread:
        raise UsageError(f"{where}: ddconfig.{unread[0]} is not read by {target}, which would build the model "
                         f"without it; remove it ({len(unread)} such key(s): {', '.join(unread)})")


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{where} must be a positive integer, got {value!r}")
    return value


def read_config(path: Path) -> VQGANConfig:
    """A published taming .yaml or our config.json (same layout)."""
    if not path.is_file():
        raise UsageError(f"VQGAN config '{path}' does not exist")
    import artengine
    import artengine.files

    text = artengine.files.read_user_file(path, "VQGAN config").decode("utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)  # safe_load: a config builds no Python objects
    except Exception as error:  # noqa: BLE001 - any parse failure is the file's fault
        raise UsageError(f"VQGAN config '{path}' could not be parsed: {str(error).splitlines()[0]}") from None
    return config_from_dict(data, f"VQGAN config '{path}'")
