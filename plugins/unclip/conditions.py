"""What the decoder is conditioned on, from a prompt, an image or a mix of both.

DALL·E 2's decoder reads one CLIP image embedding (and, ours, the caption's tokens); everything
a user can ask for becomes one: a prompt through the prior, an image through CLIP's image
encoder (variations, no caption), and several of them combined by spherical interpolation
(morphs and blends).
"""

from __future__ import annotations

from pathlib import Path

import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def encode_captions(encode, texts: list[str]) -> torch.Tensor:
    """`encode(texts)` (a CLIP's text embeddings or token states) with the rows of empty texts
    zero: what the networks were trained on for 'no caption' (CLIP's encoding of the empty text
    is not nothing)."""
    out = encode([text or " " for text in texts]).float()
    present = torch.tensor([bool(text) for text in texts], dtype=out.dtype, device=out.device)
    return out * present.view(-1, *[1] * (out.ndim - 1))


def caption_length(clip) -> int:
    """Rows of a caption's token states (the CLIP's context length)."""
    return int(clip.encode_text_tokens([""]).shape[1])


def prompt_texts(prompt) -> list[tuple[str, float]]:
    """The positive parts as (text, weight): one text (the parts joined, as other generators
    read a prompt) when every weight is the same, else each part with its weight."""
    positive = prompt.positive
    if len({part.weight for part in positive}) <= 1:
        return [(" ".join(part.text for part in positive), 1.0)]
    return [(part.text, part.weight) for part in positive]


def negative_text(prompt) -> str:
    return " ".join(part.text for part in prompt.negative)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between rows of `a` and `b` (t = 0 gives a, 1 gives b), keeping
    the norm of `a` (embeddings here all share one norm). Conditions of a decoder that reads
    captions (B x (1 + L) x D) slerp their image embedding and lerp the caption's token states."""
    if t == 0.0:
        return a
    if t == 1.0:
        return b
    if a.ndim == 3:
        return torch.cat([slerp(a[:, 0], b[:, 0], t)[:, None], torch.lerp(a[:, 1:], b[:, 1:], t)], 1)
    na, nb = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((na * nb).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    mixed = (torch.sin((1 - t) * omega) * na + torch.sin(t * omega) * nb) / torch.sin(omega)
    return mixed * a.norm(dim=-1, keepdim=True)


def blend(embeds: list[torch.Tensor], weights: list[float], mix=slerp) -> torch.Tensor:
    """Several embeddings combined by weight, as repeated mixes (slerp unless told: the first
    two by their weights' share, then that with the third, and so on): equal weights give their
    spherical mean."""
    result, total = embeds[0], weights[0]
    for embed, weight in zip(embeds[1:], weights[1:]):
        total += weight
        result = mix(result, embed, weight / total if total else 0.5)
    return result


def is_image(entry: str) -> bool:
    """Whether a mix entry names an image file rather than being a text."""
    return Path(entry).suffix.lower() in IMAGE_SUFFIXES and Path(entry).expanduser().is_file()


def parse_mix(entries: list[str]) -> list[tuple[str, float]]:
    """`generator.mix` entries as (text or image path, weight); an entry may end in ':WEIGHT'
    (as prompt parts do)."""
    from artengine import UsageError, split_weight

    parsed = []
    for number, entry in enumerate(entries, start=1):
        text, weight = split_weight(entry.strip(), f"generator.mix entry {number}", colons_in_name=True)
        weight = 1.0 if weight is None else weight
        if not text:
            raise UsageError(f"generator.mix entry {number} is empty: give a text or an image file")
        if weight <= 0:
            raise UsageError(f"generator.mix entry {number} ({entry!r}): weights must be positive")
        parsed.append((text, weight))
    return parsed
