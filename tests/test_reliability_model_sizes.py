"""Model folders that ask for absurd sizes (100,000 layers, a width of 65,536): every folder
format artengine reads itself checks the config against the weights' safetensors header before
it makes the model (dalle-bart, whose sizes come from its tensors, checks that the layers it
counts are all there), so the refusal is one line naming the file and the mismatch, at once,
with no memory taken."""

from __future__ import annotations

import json
import time

import pytest

from artengine import UsageError
from tests.dalle_helpers import dalle_host  # noqa: F401 - the fixture


def dalle_folder(tmp_path):
    from tests.dalle_helpers import make_checkpoint

    folder = make_checkpoint(tmp_path / "dalle", "tinyvq:16", layers=1, width=16)
    return folder / "config.json", lambda: __import__("artengine.plugins.dalle.bundle", fromlist=["x"]).load_dalle(
        str(folder))


def vqgan_folder(tmp_path):
    from tests.vqgan_helpers import write_folder

    write_folder(tmp_path / "vq")
    from artengine.plugins.vqgan.loading import load_vqgan

    return tmp_path / "vq" / "config.json", lambda: load_vqgan(str(tmp_path / "vq"))


def clip_folder(tmp_path):
    from artengine.plugins.clip.loading import load_clip
    from tests.clip_helpers import tiny_model

    spec = tiny_model(tmp_path / "clip", seed=0)
    return tmp_path / "clip" / "open_clip_config.json", lambda: load_clip(spec.removeprefix("clip:"), "cpu")


def bart_folder(tmp_path):
    """dalle-bart: min-dalle's folder has no config; every size is read from encoder.pt's tensors."""
    from artengine.plugins.dalle.bart.bundle import load_dalle_bart
    from artengine.plugins.dalle.bart.random_folder import write_random_folder

    write_random_folder(tmp_path / "bart", "tiny", seed=1)
    return tmp_path / "bart" / "dalle_bart_mini" / "encoder.pt", lambda: load_dalle_bart(str(tmp_path / "bart"))


def edited(change):
    """An edit of a JSON config file by `change(data)`."""
    def edit(path):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return edit


def ddconfig(data):
    return data["model"]["params"]["ddconfig"]


def one_more_tensor(name):
    def edit(path):
        import torch

        torch.save({**torch.load(path), name: torch.zeros(1)}, path)
    return edit


CASES = [  # (format, folder maker, edit of the file its sizes come from, words of the one line)
    ("dalle", dalle_folder, edited(lambda c: c.update(n_layer=100_000)), "n_layer is 100000, but"),
    ("dalle", dalle_folder, edited(lambda c: c.update(n_embd=65_536, n_head=4)), "of shape"),
    ("vqgan", vqgan_folder, edited(lambda c: ddconfig(c).update(num_res_blocks=100_000)),
     "ddconfig.num_res_blocks is 100000"),
    ("vqgan", vqgan_folder, edited(lambda c: ddconfig(c).update(ch=65_536)), "of shape"),
    ("vqgan", vqgan_folder, edited(lambda c: ddconfig(c).update(ch_mult=[1] * 100_000)),
     "the length of ddconfig.ch_mult"),
    ("clip", clip_folder, edited(lambda c: c["model_cfg"]["text_cfg"].update(layers=100_000)),
     "text_cfg.layers is 100000"),
    ("clip", clip_folder, edited(lambda c: c["model_cfg"]["vision_cfg"].update(width=65_536)), "of shape"),
    ("clip", clip_folder, edited(lambda c: c["model_cfg"].update(embed_dim=65_536)), "of shape"),
    ("dalle-bart", bart_folder, one_more_tensor("layers.99999.fc.weight"),
     "has tensors of layers.99999 but none of layers."),
]


@pytest.mark.parametrize("kind, make, change, words", CASES, ids=[f"{c[0]}-{c[3][:24]}" for c in CASES])
def test_a_config_the_weights_cannot_fill_is_refused_before_the_model_is_made(dalle_host, tmp_path, kind, make,
                                                                              change, words):
    config, load = make(tmp_path)
    load()  # the folder as written loads
    change(config)
    began = time.monotonic()
    with pytest.raises(UsageError) as refused:
        load()
    message = str(refused.value)
    assert words in message and f"'{config}'" in message and "\n" not in message, message
    assert time.monotonic() - began < 10  # never building (or allocating) the asked-for network
