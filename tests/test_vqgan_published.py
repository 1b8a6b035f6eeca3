"""Published taming checkpoints load through `artengine.load_model("vqgan:PATH.ckpt")`.

The files are made here in the published Lightning layout, with random weights: the
model's tensors under `state_dict` beside the loss's (`loss.*`), training bookkeeping, and
pickled objects of a pytorch-lightning-like class whose module does not exist when loading.
The state_dict is assembled from taming's modules the way taming's VQModel / GumbelVQ name
them, independently of the plugin's own model class.
"""

import collections
import contextlib
import io
import sys
import types

import pytest
import torch

import artengine
import artengine.plugins.vqgan

IMAGENET_F16_16384_YAML = """\
model:
  base_learning_rate: 4.5e-06
  target: taming.models.vqgan.VQModel
  params:
    embed_dim: 256
    n_embed: 16384
    monitor: val/rec_loss
    ddconfig:
      double_z: false
      z_channels: 256
      resolution: 256
      in_channels: 3
      out_ch: 3
      ch: 128
      ch_mult:
      - 1
      - 1
      - 2
      - 2
      - 4
      num_res_blocks: 2
      attn_resolutions:
      - 16
      dropout: 0.0
    lossconfig:
      target: taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator
      params:
        disc_conditional: false
        disc_in_channels: 3
        disc_start: 0
        disc_weight: 0.75
        disc_num_layers: 2
        codebook_weight: 1.0
data:
  target: main.DataModuleFromConfig
  params:
    batch_size: 12
    num_workers: 24
"""

GUMBEL_F8_YAML = """\
model:
  base_learning_rate: 4.5e-06
  target: taming.models.vqgan.GumbelVQ
  params:
    kl_weight: 1.0e-08
    embed_dim: 256
    n_embed: 8192
    monitor: val/rec_loss
    temperature_scheduler_config:
      target: taming.lr_scheduler.LambdaWarmUpCosineScheduler
      params:
        warm_up_steps: 0
        max_decay_steps: 1000001
        lr_start: 0.9
        lr_max: 0.9
        lr_min: 1.0e-06
    ddconfig:
      double_z: false
      z_channels: 256
      resolution: 256
      in_channels: 3
      out_ch: 3
      ch: 128
      ch_mult: [1, 1, 2, 4]
      num_res_blocks: 2
      attn_resolutions: [32]
      dropout: 0.0
    lossconfig:
      target: taming.modules.losses.vqperceptual.DummyLoss
"""


@pytest.fixture(autouse=True)
def vqgan_plugin(host):
    host.add(artengine.plugins.vqgan, name="vqgan")


def taming_state_dict(ddconfig, n_embed, embed_dim, gumbel):
    """Random weights named as taming's VQModel (or GumbelVQ) names them."""
    from taming.modules.diffusionmodules.model import Decoder, Encoder
    from taming.modules.vqvae.quantize import GumbelQuantize, VectorQuantizer2

    with contextlib.redirect_stdout(io.StringIO()):
        parts = {"encoder": Encoder(**ddconfig), "decoder": Decoder(**ddconfig)}
    z = ddconfig["z_channels"]
    parts["quantize"] = GumbelQuantize(z, embed_dim, n_embed=n_embed) if gumbel else VectorQuantizer2(n_embed, embed_dim, beta=0.25)
    parts["quant_conv"] = torch.nn.Conv2d(z, embed_dim, 1)
    parts["post_quant_conv"] = torch.nn.Conv2d(embed_dim, z, 1)
    state = collections.OrderedDict()
    for prefix, module in parts.items():
        for key, value in module.state_dict().items():
            state[f"{prefix}.{key}"] = value
    state["loss.logvar"] = torch.zeros(())
    state["loss.discriminator.main.0.weight"] = torch.randn(64, 3, 4, 4)
    state["loss.perceptual_loss.net.slice1.0.weight"] = torch.randn(64, 3, 3, 3)
    return state


@contextlib.contextmanager
def lightning_like_module():
    """A stand-in for pytorch_lightning's module, importable only inside the block."""
    package = types.ModuleType("lightning_stand_in")
    module = types.ModuleType("lightning_stand_in.callbacks")

    class ModelCheckpoint:
        def __init__(self):
            self.monitor, self.best_model_score = "val/rec_loss", torch.tensor(0.1)

    ModelCheckpoint.__module__, ModelCheckpoint.__qualname__ = module.__name__, "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    sys.modules.update({package.__name__: package, module.__name__: module})
    try:
        yield module
    finally:
        del sys.modules[package.__name__], sys.modules[module.__name__]


def write_published(folder, yaml_text, gumbel, name="last"):
    """`name`.ckpt in the published Lightning layout and `name`.yaml beside it."""
    import yaml

    params = yaml.safe_load(yaml_text)["model"]["params"]
    state = taming_state_dict(params["ddconfig"], params["n_embed"], params["embed_dim"], gumbel)
    with lightning_like_module() as lightning:
        checkpoint = {
            "epoch": 3,
            "global_step": 123456,
            "pytorch-lightning_version": "1.0.8",
            "state_dict": state,
            "callbacks": {lightning.ModelCheckpoint: {"best_model_score": torch.tensor(0.1)}},
            "checkpoint_callback": lightning.ModelCheckpoint(),
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 4.5e-6, "params": [0, 1]}]}],
            "lr_schedulers": [],
        }
        torch.save(checkpoint, folder / f"{name}.ckpt")
    (folder / f"{name}.yaml").write_text(yaml_text)
    return state


def check_published_model_loads(tmp_path, yaml_text, gumbel, factor, n_embed):
    state = write_published(tmp_path, yaml_text, gumbel)
    model = artengine.load_model(f"vqgan:{tmp_path / 'last.ckpt'}")

    assert "lightning_stand_in" not in sys.modules
    assert model.factor == factor and model.n_embed == n_embed and model.embed_dim == 256
    assert tuple(model.codebook.shape) == (n_embed, 256)
    codebook_key = "quantize.embed.weight" if gumbel else "quantize.embedding.weight"
    assert torch.equal(model.codebook, state[codebook_key])
    assert torch.equal(model.state_dict()["decoder.conv_out.weight"], state["decoder.conv_out.weight"])

    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        codes = model.encode(images)
        assert codes.shape == (1, 64 // factor, 64 // factor) and codes.dtype == torch.long
        assert model.embed(codes).shape == (1, 256, 64 // factor, 64 // factor)
        decoded = model.decode(codes)
    assert decoded.shape == (1, 3, 64, 64)
    assert 0 <= decoded.min() and decoded.max() <= 1


def test_the_imagenet_f16_16384_architecture_loads_from_a_published_layout_checkpoint(tmp_path):
    check_published_model_loads(tmp_path, IMAGENET_F16_16384_YAML, gumbel=False, factor=16, n_embed=16384)


def test_the_gumbel_f8_architecture_loads_from_a_published_layout_checkpoint(tmp_path):
    check_published_model_loads(tmp_path, GUMBEL_F8_YAML, gumbel=True, factor=8, n_embed=8192)
