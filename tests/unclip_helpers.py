"""Helpers for the unclip tests: tiny random unCLIP folders, ours and Kandinsky 2.2's.

Ours sit over the shipped clip:shapes and vqgan:shapes (small and fast). Kandinsky's are built
offline the way diffusers' own tests build them (tests/pipelines/kandinsky2_2/), with a
CLIPTokenizer made from open_clip's shipped BPE vocabulary instead of one from the Hub.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch


@pytest.fixture
def unclip_host(builtin_plugins):
    return builtin_plugins


def assert_same_pixels(image, reference) -> None:
    """`image` (a path or a PIL image) within 1/255 of `reference` at every pixel."""
    import numpy as np
    from PIL import Image

    ours = np.asarray(Image.open(image) if isinstance(image, (str, Path)) else image, dtype=int)
    difference = np.abs(ours - np.asarray(reference, dtype=int))
    assert difference.max() <= 1, f"{difference.max()}/255 away from diffusers' pixels"


CAPTION_LENGTH = 32
"""Tokens in a clip:shapes caption (its context length)."""


def make_unclip_folder(folder: Path, seed: int = 0, prior_reads_captions: bool = True) -> Path:
    """A random-weight folder in the layout `artengine train unclip` writes (without
    `prior_reads_captions`, the earlier one: only the decoder reads the caption)."""
    from artengine.plugins.unclip.card import render_card
    from artengine.plugins.unclip.components import (FORMAT, FORMAT_VERSION, build_prior, build_unet,
                                                     decoder_scheduler, prior_scheduler, save_folder)

    torch.manual_seed(seed)
    prior, unet = build_prior(128, 1, 1, CAPTION_LENGTH if prior_reads_captions else 0), build_unet(32, 8, 128, 16, 1)
    with torch.no_grad():
        prior.clip_mean.zero_()
        prior.clip_std.fill_(1.0)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "clip": "clip:shapes", "vqgan": "vqgan:shapes",
        "captions": True,
        "latents": {"grid": [8, 8], "mean": [0.0] * 32, "std": [0.5] * 32}, "image_size": [64, 64],
        "training": {"command": "made by tests/unclip_helpers.py", "step": 0, "world_size": 1, "wall_time_s": 0.0,
                     "hardware": "none", "settings": {}, "data": {"spec": "none", "images": 0, "seed": 0},
                     "parameters": {"prior": 1, "unet": 1}, "losses": {"prior": 0.0, "decoder": 0.0}},
    }
    save_folder(folder, {"prior": prior, "prior_scheduler": prior_scheduler(), "unet": unet,
                         "scheduler": decoder_scheduler()}, config, render_card(config, f"unclip:{folder.name}"))
    return folder


def clip_tokenizer(folder: Path):
    """A CLIPTokenizer with CLIP's own 49,408-token vocabulary, built from open_clip's BPE file."""
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode
    from transformers import CLIPTokenizer

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def make_kandinsky(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Tiny random Kandinsky 2.2 prior and decoder pipelines, saved as FOLDER/prior and
    FOLDER/decoder (diffusers' save_pretrained layout, safetensors)."""
    from diffusers import (DDIMScheduler, KandinskyV22Pipeline, KandinskyV22PriorPipeline, PriorTransformer,
                           UnCLIPScheduler, UNet2DConditionModel, VQModel)
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig,
                              CLIPVisionModelWithProjection)

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(folder / "bpe")
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, projection_dim=32,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=49408))
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, image_size=224, projection_dim=32, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=2, patch_size=14))
    processor = CLIPImageProcessor(crop_size=224, do_center_crop=True, do_normalize=True, do_resize=True,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=224)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    with torch.no_grad():  # zero clip_std would divide by zero nowhere but flatten every output
        prior.clip_std.fill_(1.0)
    prior_scheduler = UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                      num_train_timesteps=1000, clip_sample=True, clip_sample_range=10.0)
    KandinskyV22PriorPipeline(prior=prior, image_encoder=image_encoder, text_encoder=text_encoder,
                              tokenizer=tokenizer, scheduler=prior_scheduler, image_processor=processor
                              ).save_pretrained(folder / "prior", safe_serialization=True)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        encoder_hid_dim=32, encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type=None)
    movq = VQModel(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
                   in_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial",
                   num_vq_embeddings=12, out_channels=3, up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
                   vq_embed_dim=4)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon",
                              thresholding=False)
    KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).save_pretrained(folder / "decoder",
                                                                                 safe_serialization=True)
    return folder / "prior", folder / "decoder"


def kandinsky_pixels(prior: Path, decoder: Path, prompt: str, seed: int, negative: str | None = None,
                     size: int = 64, steps: int = 4, guidance: float = 4.0):
    """What diffusers' own pipelines draw, as a user of them writes it: one generator through both."""
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

    prior_pipe = KandinskyV22PriorPipeline.from_pretrained(prior)
    pipe = KandinskyV22Pipeline.from_pretrained(decoder)
    generator = torch.Generator().manual_seed(seed)
    out = prior_pipe(prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
                     generator=generator)
    image = pipe(image_embeds=out.image_embeds, negative_image_embeds=out.negative_image_embeds, height=size,
                 width=size, num_inference_steps=steps, guidance_scale=guidance, generator=generator).images[0]
    return image


def make_stable_diffusion(folder: Path, seed: int = 0) -> Path:
    """A tiny random Stable Diffusion folder (64x64 images), built as diffusers' own tests build
    theirs, saved with safetensors."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, norm_num_groups=2)
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
                                                hidden_size=32, intermediate_size=37, num_attention_heads=4,
                                                num_hidden_layers=2, vocab_size=49408))
    pipe = StableDiffusionPipeline(unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                                   tokenizer=clip_tokenizer(folder.parent / "bpe-sd"), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def diffusers_pixels(folder: Path, prompt: str, seed: int, negative: str | None = None, steps: int = 3,
                     guidance: float = 7.5):
    """What diffusers' own text-to-image pipeline draws for one seed."""
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(folder)
    return pipe(prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
                generator=torch.Generator().manual_seed(seed)).images[0]
