"""What the `unclip` generator asks of a loaded model, whichever folder it came from: the
shipped shapes-world model (pipeline.ShapesUnclip) or a Kandinsky 2.2 pair (kandinsky.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


@dataclass(frozen=True)
class SamplingSettings:
    """How the prior and the decoder sample: the generator's declared options. Without them (the
    model as a LatentDenoiser conditioning the `diffusion` loss and `clip-diffusion` on the
    prompt, the trainer's samples) these defaults: the prior at 10 steps, as those were measured."""

    prior_steps: int = 10
    prior_guidance: float = 4.0
    decoder_steps: int = 10
    decoder_guidance: float = 2.0
    scheduler: str = "dpm++"
    eta: float = 0.0
    prior_candidates: int = 1
    snap: bool = True
    size: tuple[int, int] | None = None
    """(width, height); None: the model's own."""


OnStep = Callable[[int, int, "Callable[[], list[Image]] | None"], None]
"""on_step(step, steps, preview) after each decoder step; `preview()` decodes the images as they
stand (costly: call it only when a preview is wanted), None where there is none."""


@runtime_checkable
class UnclipModel(Protocol):
    image_size: tuple[int, int]
    """(width, height) of the images it makes."""
    schedulers: tuple[str, ...]
    """The sampling schedulers it can run (`generator.scheduler`)."""

    def embed_prompt(self, texts: list[tuple[str, float]], negative: str, generators: list["torch.Generator"],
                     settings: SamplingSettings) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(conditions, negative conditions), a row per generator: the decoder's conditions
        from the prior's samples for the weighted texts (a decoder that reads captions gets the
        texts' tokens too), and its unconditional side (the negative text's, or the model's 'no
        condition'). A condition is the image embedding, B x D, or whatever else the model's
        decoder reads with it: callers batch conditions, `slerp` mixes them, nothing else."""

    def embed_images(self, images: list["Image"]) -> "torch.Tensor":
        """The decoder's condition for each image: its CLIP image embedding, in the decoder's
        scale (and no caption)."""

    def unconditional(self, count: int) -> "torch.Tensor":
        """`count` rows of the decoder's 'no condition' embedding."""

    def decode(self, embeds: "torch.Tensor", negative: "torch.Tensor", generators: list["torch.Generator"],
               settings: SamplingSettings, on_step: OnStep | None = None) -> list["Image"]:
        """One image per row of `embeds` (conditions)."""
