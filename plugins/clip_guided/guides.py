"""The CLIP models that guide the image, each with its weight and its prompt embeddings.

Text and image-prompt embeddings are computed once per request, not once per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import torch

import artengine
from artengine import TextImageEncoder, UsageError

from .images import load_image, to_tensor


@dataclass
class Guide:
    """One CLIP model as losses see it: an `artengine.ClipGuide` (`context.guides` holds these)."""

    spec: str
    weight: float
    model: TextImageEncoder
    image_size: int
    targets: torch.Tensor
    target_weights: torch.Tensor
    labels: list[str]
    _texts: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)

    def text_targets(self, prompt) -> tuple[torch.Tensor, torch.Tensor]:
        if prompt.text not in self._texts:
            self._texts[prompt.text] = _encode_parts(self.model, prompt.parts, self.targets.device)
        return self._texts[prompt.text]


def build_guides(settings, prompt, device: str) -> list[Guide]:
    guides = []
    for spec in settings.clip:
        model = artengine.load_model(spec.value, device, TextImageEncoder, "generator.clip")
        size = _side(model.image_size, spec.value)
        texts, text_weights = _encode_parts(model, prompt.parts, device)
        images, image_weights = _encode_images(model, settings.image_prompts, size, device, texts.shape[-1])
        guides.append(Guide(
            spec=spec.value,
            weight=spec.weight,
            model=model,
            image_size=size,
            targets=torch.cat([texts, images]),
            target_weights=torch.cat([text_weights, image_weights]),
            labels=[part.text for part in prompt.parts] + [image.value for image in settings.image_prompts],
        ))
    return guides


def _encode_parts(model, parts, device) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        embeddings = model.encode_text([part.text for part in parts]).float()
    weights = torch.tensor([part.weight for part in parts], dtype=torch.float32, device=embeddings.device)
    return embeddings.to(device), weights.to(device)


def _encode_images(model, image_prompts, size: int, device, dimension: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not image_prompts:
        return torch.zeros(0, dimension, device=device), torch.zeros(0, device=device)
    batch = torch.stack([to_tensor(load_image(p.value, (size, size), "generator.image_prompts")) for p in image_prompts])
    with torch.no_grad():
        embeddings = model.encode_image(batch.to(device)).float()
    weights = torch.tensor([p.weight for p in image_prompts], dtype=torch.float32, device=device)
    return embeddings.to(device), weights


def _side(image_size, spec: str) -> int:
    sides = image_size if isinstance(image_size, (tuple, list)) else (image_size, image_size)
    if len(set(sides)) != 1:
        raise UsageError(f"{spec}: non-square CLIP input {sides} is not supported")
    return int(sides[0])
