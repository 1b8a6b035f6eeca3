"""VQGAN configs name what their weights are: taming's own code either builds the network the
weights fit, or fails loudly. Never a quiet load of the wrong network.

These tests build models with taming-transformers' own classes and functions
(`instantiate_from_config`, `VQModel`, `Encoder`, `Decoder`), not artengine's loader.
"""

import inspect
import json
import re
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import artengine
import artengine.plugins.vqgan
from artengine import UsageError
from artengine.plugins.vqgan.config import TAMING_DDCONFIG_KEYS, VARIANT, config_from_dict
from artengine.plugins.vqgan.model import VQGAN

SHIPPED = Path(artengine.plugins.vqgan.__file__).parent / "weights" / "shapes"
IDENTITY_LOSS = {"target": "torch.nn.Identity"}  # VQModel wants a training loss; inference needs none
TINY_DDCONFIG = {"double_z": False, "z_channels": 8, "resolution": 32, "in_channels": 3, "out_ch": 3, "ch": 32,
                 "ch_mult": [1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}


@pytest.fixture(autouse=True)
def vqgan_plugin(host):
    host.add(artengine.plugins.vqgan, name="vqgan")


@pytest.fixture(scope="module")
def taming_main():
    """taming.main, where instantiate_from_config lives (and which taming.models.vqgan imports).
    It imports `pytorch_lightning.utilities.distributed`, gone from current Lightning, for one
    decorator; a stand-in module lets taming's own code import as it is."""
    if "pytorch_lightning.utilities.distributed" not in sys.modules:
        stand_in = types.ModuleType("pytorch_lightning.utilities.distributed")
        stand_in.rank_zero_only = lambda function: function
        sys.modules["pytorch_lightning.utilities.distributed"] = stand_in
    import taming.main
    import taming.models.vqgan  # noqa: F401 - VQModel, for the tests that build one

    return taming.main


def shipped_config() -> dict:
    return json.loads((SHIPPED / "config.json").read_text())


def some_codes(n_embed: int, side: int = 8) -> torch.Tensor:
    return torch.randint(0, n_embed, (2, side, side), generator=torch.Generator().manual_seed(0))


def test_taming_instantiates_the_shipped_config_as_the_network_its_weights_fit(taming_main):
    config = shipped_config()
    assert config["model"]["target"] == VARIANT

    model = taming_main.instantiate_from_config(config["model"]).eval()
    model.load_state_dict(load_file(str(SHIPPED / "model.safetensors")))  # strict

    codes = some_codes(config["model"]["params"]["n_embed"])
    with torch.no_grad():
        assert torch.equal(model.decode(codes), artengine.load_model("vqgan:shapes").decode(codes))


def test_tamings_vqmodel_refuses_the_shipped_weights_loudly(taming_main):
    from taming.models.vqgan import VQModel

    params = {key: value for key, value in shipped_config()["model"]["params"].items()}
    model = VQModel(**params, lossconfig=IDENTITY_LOSS)  # decoder_norm ignored: GroupNorm built
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*decoder\.[\w.]*norm"):
        model.load_state_dict(load_file(str(SHIPPED / "model.safetensors")))


def test_the_model_cards_recipe_with_tamings_modules_alone_decodes_as_artengine():
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    recipe = re.search(r"```python\n(.*?)```", card, re.DOTALL).group(1)
    namespace = {"folder": str(SHIPPED)}
    exec(recipe, namespace)  # noqa: S102 - the card's own code, as a reader would run it

    codes = some_codes(shipped_config()["model"]["params"]["n_embed"])
    with torch.no_grad():
        assert torch.allclose(namespace["decode"](codes), artengine.load_model("vqgan:shapes").decode(codes), atol=1e-6)


def test_a_model_with_group_norm_is_plain_taming_and_its_vqmodel_decodes_it_alike(taming_main):
    from taming.models.vqgan import VQModel

    torch.manual_seed(0)
    ours = VQGAN(config_from_dict({"model": {"params": {"n_embed": 16, "embed_dim": 4, "ddconfig": {
        **TINY_DDCONFIG, "decoder_norm": "group"}}}}, "test")).eval()
    written = ours.config.to_dict()["model"]
    assert written["target"] == "taming.models.vqgan.VQModel" and "decoder_norm" not in written["params"]["ddconfig"]

    theirs = taming_main.instantiate_from_config(
        {**written, "params": {**written["params"], "lossconfig": IDENTITY_LOSS}}).eval()
    theirs.load_state_dict(ours.state_dict())  # strict
    codes = some_codes(16, side=4)
    with torch.no_grad():
        latents = theirs.quantize.get_codebook_entry(codes.flatten(), (2, 4, 4, 4))
        images = ((theirs.decode(latents) + 1) / 2).clamp(0, 1)  # taming decodes to [-1, 1]
        assert torch.allclose(images, ours.decode(codes), atol=1e-6)


def test_a_config_that_claims_tamings_vqmodel_for_a_decoder_without_group_norm_is_refused(tmp_path):
    config = shipped_config()
    config["model"]["target"] = "taming.models.vqgan.VQModel"  # taming's class, which builds a GroupNorm decoder
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    (tmp_path / "old" / "model.safetensors").write_bytes((SHIPPED / "model.safetensors").read_bytes())

    with pytest.raises(UsageError, match=f"would build with GroupNorm; set model.target to {re.escape(VARIANT)}$"):
        artengine.load_model(f"vqgan:{tmp_path / 'old'}")


@pytest.mark.parametrize("target", ["taming.models.vqgan.VQModel", VARIANT])
def test_a_ddconfig_key_taming_would_drop_is_refused(target):
    params = {"n_embed": 16, "embed_dim": 4, "ddconfig": {**TINY_DDCONFIG, "tanh_out": True}}
    with pytest.raises(UsageError, match="ddconfig.tanh_out is not read by"):
        config_from_dict({"model": {"target": target, "params": params}}, "test")


def test_the_keys_taming_reads_are_those_of_its_encoder_and_decoder():
    from taming.modules.diffusionmodules.model import Decoder, Encoder

    def keywords(network):
        return {name for name, p in inspect.signature(network.__init__).parameters.items()
                if p.kind is p.KEYWORD_ONLY}

    assert TAMING_DDCONFIG_KEYS == keywords(Encoder) | keywords(Decoder)


def test_a_target_artengine_does_not_build_is_refused():
    params = {"n_embed": 16, "embed_dim": 4, "ddconfig": TINY_DDCONFIG}
    with pytest.raises(UsageError, match="model.target 'taming.models.vqgan.VQSegmentationModel' is not a VQGAN"):
        config_from_dict({"model": {"target": "taming.models.vqgan.VQSegmentationModel", "params": params}}, "test")


def test_built_from_params_with_a_checkpoint_path_it_refuses_rather_than_stay_random():
    with pytest.raises(TypeError, match="not ckpt_path"):
        VQGAN(n_embed=16, embed_dim=4, ddconfig=TINY_DDCONFIG, ckpt_path="model.ckpt")
