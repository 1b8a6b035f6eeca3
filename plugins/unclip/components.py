"""The unCLIP model's parts, as diffusers classes, and its folder in diffusers' layout.

    FOLDER/model_index.json       the components and their diffusers classes
    FOLDER/prior/                 PriorTransformer: CLIP text embedding (and the caption's
                                  token states) -> CLIP image embedding
    FOLDER/prior_scheduler/       its noise schedule (it predicts the clean embedding)
    FOLDER/unet/                  UNet2DConditionModel: the decoder, conditioned on an image
                                  embedding (addition_embed_type "image") and the caption's
                                  token states (encoder_hid_dim_type "text_image_proj")
    FOLDER/scheduler/             the decoder's noise schedule (v-prediction)
    FOLDER/artengine_unclip.json  what diffusers has no place for: the CLIP and the VQGAN the
                                  model works with, the latents' per-channel statistics, the
                                  training record and the card's figures
    FOLDER/README.md              the model card

Each component loads with diffusers' own `from_pretrained(FOLDER, subfolder=NAME)`.

Embeddings cross these parts as unit vectors times sqrt(dim): entries of about unit size, so
the networks' first layers need not learn a scale of 1/sqrt(dim) first.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FORMAT = "artengine-unclip"
FORMAT_VERSION = 1
CONFIG_FILE = "artengine_unclip.json"
COMPONENTS = {"prior": "PriorTransformer", "prior_scheduler": "DDPMScheduler",
              "unet": "UNet2DConditionModel", "scheduler": "DDPMScheduler"}
TRAIN_TIMESTEPS = 1000


def embedding_scale(dim: int) -> float:
    return math.sqrt(dim)


def build_unet(channels: int, side: int, embed_dim: int, width: int, layers: int, captions: bool = True):
    """The decoder: a two-level UNet over latents channels x side x side, conditioned on an
    image embedding (an addition to the timestep embedding, and tokens for its cross-attention)
    and, with `captions`, on the caption's CLIP token states as well: Kandinsky 2.1's
    "text_image_proj" puts both in the cross-attention, as DALL·E 2's decoder reads the caption
    beside the embedding. Without them, Kandinsky 2.2's image conditioning alone."""
    from diffusers import UNet2DConditionModel

    conditioning = ({"encoder_hid_dim_type": "text_image_proj", "cross_attention_dim": embed_dim} if captions
                    else {"encoder_hid_dim_type": "image_proj", "cross_attention_dim": width})
    return UNet2DConditionModel(
        sample_size=side, in_channels=channels, out_channels=channels,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(width, 2 * width), layers_per_block=layers,
        encoder_hid_dim=embed_dim, attention_head_dim=32, addition_embed_type="image", norm_num_groups=16,
        **conditioning,
    )


def reads_captions(network) -> bool:
    """Whether the prior or the decoder UNet reads the caption's token states (beside the text
    embedding, or the image embedding)."""
    config = network.config
    return config.get("encoder_hid_dim_type") == "text_image_proj" or config.get("encoder_hid_proj_type") is not None


def build_prior(embed_dim: int, layers: int, heads: int, caption_length: int = 0):
    """The prior: a PriorTransformer over the text embedding, the timestep, the noisy image
    embedding and the learned token it reads the prediction from; with `caption_length`, the
    caption's token states first, as DALL·E 2's prior reads the encoded text. It needs them:
    CLIP's pooled text embedding hardly tells "A left of B" from "B left of A" (cosine 0.99 on
    clip:shapes), the token states do."""
    from diffusers import PriorTransformer

    return PriorTransformer(num_attention_heads=heads, attention_head_dim=32, num_layers=layers,
                            embedding_dim=embed_dim, num_embeddings=caption_length, additional_embeddings=4,
                            encoder_hid_proj_type="linear" if caption_length else None, added_emb_type="prd",
                            norm_in_type="layer")


def decoder_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=False)


def prior_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                         prediction_type="sample", clip_sample=False)


def model_index() -> dict[str, Any]:
    import diffusers

    return {"_class_name": "ArtengineUnCLIPPipeline", "_diffusers_version": diffusers.__version__,
            **{name: ["diffusers", cls] for name, cls in COMPONENTS.items()}}


def save_folder(folder: Path, parts: dict[str, Any], config: dict[str, Any], card: str) -> None:
    """Write every component, then the config and card, each file replaced atomically: the
    config is written last, so a folder whose config names a step holds that step's weights."""
    import tempfile

    from artengine.files import replace_file

    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        with tempfile.TemporaryDirectory(dir=folder, prefix=f".{name}-") as scratch:
            part.save_pretrained(scratch, **({"safe_serialization": True} if hasattr(part, "dtype") else {}))
            (folder / name).mkdir(exist_ok=True)
            for path in Path(scratch).iterdir():
                replace_file(folder / name / path.name, path.read_bytes())
    replace_file(folder / "model_index.json", (json.dumps(model_index(), indent=2) + "\n").encode())
    replace_file(folder / "README.md", card.encode("utf-8"))
    replace_file(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
