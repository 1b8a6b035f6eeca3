"""The typed seams between plugins: what generators need from an image tokenizer and from a
text-image encoder, satisfied by the built-in vqgan and clip models."""

import artengine
import artengine.plugins.clip
from artengine import ImageTokenizer, TextImageEncoder
from tests.clip_helpers import tiny_model


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
