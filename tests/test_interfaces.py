"""The typed seams between plugins: what generators need from an image tokenizer and from a
text-image encoder, what a loss sees, and a searchable index; satisfied by the built-in plugins'
objects and checked where a model is loaded."""

import dataclasses

import pytest

import artengine
import artengine.plugins.clip
from artengine import ClipGuide, ImageTokenizer, LossContext, SearchHit, SearchIndex, TextImageEncoder
from artengine.models import protocol_members
from tests.clip_helpers import tiny_model
from tests.vqgan_clip_helpers import TinyVQGAN


def test_a_trained_vqgan_is_an_image_tokenizer_and_a_clip_a_text_image_encoder(host, tmp_path):
    from artengine.plugins.vqgan.model import VQGAN
    from artengine.plugins.vqgan.train import model_config

    host.add(artengine.plugins.clip, name="clip")
    settings = {"z_channels": 8, "image_size": 16, "ch": 32, "ch_mult": "1,1", "num_res_blocks": 1,
                "decoder_norm": "group", "codebook_size": 8, "embed_dim": 4}
    vqgan = VQGAN(model_config(settings))
    clip = artengine.load_model(tiny_model(tmp_path / "clip", seed=0))
    assert isinstance(vqgan, ImageTokenizer) and not isinstance(vqgan, TextImageEncoder)
    assert isinstance(clip, TextImageEncoder) and not isinstance(clip, ImageTokenizer)


def test_an_object_missing_a_member_is_not_an_image_tokenizer():
    class EncoderOnly:
        factor = 8
        codebook = None

        def encode(self, images):
            return images

    assert not isinstance(EncoderOnly(), ImageTokenizer)


@pytest.mark.parametrize("member", protocol_members(ImageTokenizer))
def test_a_model_lacking_any_tokenizer_member_is_refused_where_it_is_loaded(host, member):
    """`load_model(spec, device, ImageTokenizer, where)` refuses a model lacking any member, in
    one line naming the setting, the spec and what it lacks."""
    lacking = type("Lacking", (), {name: lambda self, x: x for name in protocol_members(ImageTokenizer)
                                   if name != member})()
    host.add(loader_plugin(lacking), name="toy")
    assert not isinstance(lacking, ImageTokenizer)
    with pytest.raises(artengine.UsageError) as error:
        artengine.load_model("toy:x", "cpu", ImageTokenizer, "generator.vqgan")
    assert str(error.value) == f"generator.vqgan 'toy:x' loads a Lacking, which is not an ImageTokenizer: it has no {member}"


def test_the_tokenizer_protocol_names_what_the_plugins_call_on_one():
    assert protocol_members(ImageTokenizer) == ["factor", "codebook", "encode", "decode", "embed", "decode_latents"]
    assert isinstance(TinyVQGAN(), ImageTokenizer)


def test_load_model_hands_back_a_model_of_the_expected_kind(host):
    model = TinyVQGAN()
    host.add(loader_plugin(model), name="toy")
    assert artengine.load_model("toy:x", "cpu", ImageTokenizer) is model
    with pytest.raises(artengine.UsageError, match="^model 'toy:x' loads a TinyVQGAN, which is not a TextImageEncoder: "
                                                   "it has no image_size, encode_text, encode_image$"):
        artengine.load_model("toy:x", "cpu", TextImageEncoder)


def test_the_shared_objects_of_the_built_in_plugins_have_every_member_of_their_protocol():
    from artengine.plugins.search.index import Hit, Index
    from artengine.plugins.search.loader import CurrentIndex
    from artengine.plugins.clip_guided.guides import Guide

    def members(cls):
        return {field.name for field in dataclasses.fields(cls)} | set(dir(cls))

    assert set(protocol_members(ClipGuide)) <= members(Guide)
    assert set(protocol_members(SearchHit)) <= members(Hit)
    assert issubclass(CurrentIndex, SearchIndex) and issubclass(Index, SearchIndex)


def test_a_loss_context_names_what_a_loss_needs_and_the_generator_does_not_give():
    request = artengine.Request(artengine.parse_prompt("a red circle"), (1, 2), (16, 16), "cpu", {})
    context = LossContext(request, steps=10, step=3)
    assert (context.prompt.text, context.device, context.step, context.steps) == ("a red circle", "cpu", 3, 10)
    assert context.need("step") == 3
    with pytest.raises(artengine.UsageError, match="^loss 'sds' needs 'latents' from the generator, which does not "
                                                   "give it; use it with a generator that does$"):
        context.need("latents", "loss 'sds'")


def loader_plugin(model):
    """A plugin whose `toy:` loader hands back `model` for any name."""

    class Loader(artengine.ModelLoader):
        kind = "toy"
        description = "Hands back one object."

        def load(self, name, device):
            return model

    class Plugin:
        @artengine.hookimpl
        def register_model_loaders(self, register):
            register(Loader())

    return Plugin()
