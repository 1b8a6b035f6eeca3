"""`ClipModel`: an open_clip model behind a small, documented interface.

    encode_image(images)  images B x 3 x H x W in [0, 1], any size -> B x D, L2-normalised;
                          differentiable with respect to the images.
    encode_text(texts)    list of str -> B x D, L2-normalised (no gradient: text is a constant).
    encode_text_tokens(texts)  list of str -> B x L x D, every token's state, L2-normalised.
    image_size            (height, width) the network sees; inputs are resized to it.
    device                where the weights live.
    preprocess            open_clip's preprocess config of this model (mean, std, interpolation,
                          resize_mode, ...), the one source of the normalisation used.

The model is frozen (eval mode, no parameter gradients): it serves generators and scorers.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F


class ClipModel:
    def __init__(self, network: torch.nn.Module, tokenizer, spec: str, device: str, model_cfg: dict[str, Any]):
        self.network = network.to(device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.spec = spec
        self.device = device
        self.preprocess = dict(network.visual.preprocess_cfg)
        self.config = open_clip_config(network, model_cfg)  # to fine-tune from it
        size = self.preprocess["size"]
        self.image_size: tuple[int, int] = (size, size) if isinstance(size, int) else tuple(size)
        dtype = next(network.parameters()).dtype
        shape = (1, 3, 1, 1)
        self._mean = torch.tensor(self.preprocess["mean"], dtype=dtype, device=device).view(shape)
        self._std = torch.tensor(self.preprocess["std"], dtype=dtype, device=device).view(shape)

    def __repr__(self) -> str:
        return f"ClipModel({self.spec!r}, image_size={self.image_size}, device={self.device!r})"

    def prepare_images(self, images: torch.Tensor) -> torch.Tensor:
        """Resize (following the config's resize_mode) and normalise images in [0, 1]."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"encode_image wants B x 3 x H x W images, got shape {tuple(images.shape)}")
        images = images.to(self.device, self._mean.dtype)
        images = fit_to_size(images, self.image_size, self.preprocess.get("resize_mode", "shortest"),
                             self.preprocess.get("interpolation", "bicubic"), self.preprocess.get("fill_color", 0))
        return (images - self._mean) / self._std

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.network.encode_image(self.prepare_images(images)).float(), dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Texts longer than the model's context are cut to fit, with a warning (once per text)."""
        return F.normalize(self.network.encode_text(self._tokens(texts)).float(), dim=-1)

    @torch.no_grad()
    def encode_text_tokens(self, texts: list[str]) -> torch.Tensor:
        """B x L x D: each token's final state through the text projection, L2-normalised (the
        pooled token's row is `encode_text`'s). open_clip pools one token; this keeps them all."""
        net = self.network
        x = net.token_embedding(self._tokens(texts)) + net.positional_embedding
        x = net.ln_final(net.transformer(x, attn_mask=net.attn_mask))
        projection = net.text_projection
        x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return F.normalize(x.float(), dim=-1)

    def _tokens(self, texts: list[str]) -> torch.Tensor:
        """The texts' token ids, cut to the context (with a warning once per text cut)."""
        for text in texts:
            self._warn_if_cut(text)
        return self.tokenizer(list(texts)).to(self.device)

    def tokens_cut(self, text: str) -> int:
        """How many of the text's tokens do not fit the context (its start and end tokens aside)."""
        length, encode = getattr(self.tokenizer, "context_length", None), getattr(self.tokenizer, "encode", None)
        if not length or encode is None:  # e.g. a Hugging Face tokenizer: it cuts, we cannot count
            return 0
        return max(0, len(encode(text)) - (length - 2))

    def _warn_if_cut(self, text: str) -> None:
        warned = self.__dict__.setdefault("_warned", set())
        cut = self.tokens_cut(text) if text not in warned else 0
        if cut:
            warned.add(text)
            from artengine import warn

            length = self.tokenizer.context_length - 2
            shown = text if len(text) <= 40 else text[:37] + "..."
            warn(f"{self.spec} reads at most {length} tokens of text; {shown!r} has {length + cut}, "
                 f"so its last {cut} token(s) were cut")


def fit_to_size(images: torch.Tensor, size: tuple[int, int], mode: str, interpolation: str, fill: int = 0) -> torch.Tensor:
    """open_clip's resize modes, done with differentiable tensor ops.

    'shortest': scale the short side to fit, then centre-crop; 'longest': scale the long side to
    fit, then pad with `fill`; 'squash': scale each side independently.
    """
    height, width = images.shape[-2:]
    target_h, target_w = size
    if (height, width) == (target_h, target_w):
        return images
    if mode == "squash":
        new_h, new_w = target_h, target_w
    else:
        pick = max if mode == "shortest" else min
        scale = pick(target_h / height, target_w / width)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    interp = interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"
    smooth = interp != "nearest"
    images = F.interpolate(images, size=(new_h, new_w), mode=interp,
                           align_corners=False if smooth else None, antialias=smooth and new_h < height)
    if smooth:
        images = images.clamp(0, 1)  # bicubic overshoots
    if (new_h, new_w) == (target_h, target_w):
        return images
    if mode == "shortest":
        top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
        return images[..., top:top + target_h, left:left + target_w]
    pad_h, pad_w = target_h - new_h, target_w - new_w
    return F.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=fill / 255)


def open_clip_config(network: torch.nn.Module, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The network's config as open_clip_config.json holds it: the model config and the
    preprocess config attached to the network (its size is the model's, so not repeated)."""
    preprocess = {key: value for key, value in network.visual.preprocess_cfg.items() if key != "size"}
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess}


def build_network(model_cfg: dict[str, Any], preprocess_cfg: dict[str, Any] | None = None) -> torch.nn.Module:
    """An open_clip model with random weights from a model config (the `model_cfg` of an
    open_clip config file), with its preprocess config attached as open_clip does."""
    from open_clip.model import CLIP, CustomTextCLIP, set_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    cfg = copy.deepcopy(model_cfg)
    vision, text = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if "timm_model_name" in vision:
        vision["timm_model_pretrained"] = False  # weights come from our file, never a download
    hf_text = "hf_model_name" in text
    if hf_text:
        text["hf_model_pretrained"] = False
    custom_text = cfg.pop("custom_text", False) or hf_text
    if "multimodal_cfg" in cfg:
        from open_clip.coca_model import CoCa

        network_class = CoCa
    else:
        network_class = CustomTextCLIP if custom_text else CLIP
    network = network_class(**cfg)
    preprocess = merge_preprocess_dict(asdict(PreprocessCfg()), preprocess_cfg or {})
    preprocess["size"] = network.visual.image_size
    set_model_preprocess_cfg(network, preprocess)
    return network


def tokenizer_for(model_cfg: dict[str, Any]):
    """The tokenizer open_clip pairs with this model config (its own BPE vocabulary by default)."""
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer, SimpleTokenizer

    text = model_cfg.get("text_cfg", {})
    context_length = text.get("context_length", DEFAULT_CONTEXT_LENGTH)
    kwargs = dict(text.get("tokenizer_kwargs") or {})
    if text.get("hf_tokenizer_name"):
        return HFTokenizer(text["hf_tokenizer_name"], context_length=context_length,
                           tokenizer_mode=text.get("tokenizer_mode"), **kwargs)
    return SimpleTokenizer(context_length=context_length, **kwargs)


def images_to_tensor(images) -> torch.Tensor:
    """PIL images (all the same size) -> float tensor B x 3 x H x W in [0, 1]."""
    import numpy as np

    arrays = [np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)
