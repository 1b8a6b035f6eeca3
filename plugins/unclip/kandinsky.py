"""Kandinsky 2.2 (a CLIP prior and a MoVQ-latent diffusion decoder) through diffusers' own
pipelines, as an UnclipModel (model.py): same folder, seeds, steps and guidance give the
pixels diffusers gives."""

from __future__ import annotations

from pathlib import Path

import torch

from artengine import UsageError

from .folders import quiet_loading
from .model import OnStep, SamplingSettings
from .sampling import SCHEDULERS, with_scheduler


class KandinskyUnclip:
    schedulers = ("default", *SCHEDULERS)
    image_size = (512, 512)  # the pipelines' default
    any_size = True  # the decoder is convolutional: any multiple of 64 pixels

    def __init__(self, prior_pipe, decoder_pipe):
        self.prior_pipe, self.decoder_pipe = prior_pipe, decoder_pipe

    @classmethod
    def load(cls, prior: Path, decoder: Path, device: str) -> "KandinskyUnclip":
        from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

        quiet_loading()
        pipes = []
        for pipe_cls, folder in ((KandinskyV22PriorPipeline, prior), (KandinskyV22Pipeline, decoder)):
            try:
                pipe = pipe_cls.from_pretrained(folder, use_safetensors=True)
            except (OSError, ValueError, TypeError, AttributeError) as error:
                raise UsageError(f"'{folder}' does not load as a diffusers {pipe_cls.__name__} "
                                 f"({str(error).splitlines()[0]})") from None
            pipe.set_progress_bar_config(disable=True)
            pipes.append(pipe.to(device))
        return cls(*pipes)

    @property
    def device(self):
        return self.decoder_pipe.device

    def embed_prompt(self, texts, negative, generators, settings: SamplingSettings):
        n = len(generators)
        common = {"num_inference_steps": settings.prior_steps, "guidance_scale": settings.prior_guidance}
        if len(texts) == 1:
            # a negative prompt doubles the prior's batch (the prompt's rows, then the negative's)
            out = self.prior_pipe(texts[0][0], negative_prompt=negative or None, num_images_per_prompt=n,
                                  generator=generators * (2 if negative else 1), **common)
            return out.image_embeds, out.negative_image_embeds
        out = self.prior_pipe.interpolate([text for text, _ in texts], [weight for _, weight in texts],
                                          num_images_per_prompt=n, generator=generators, negative_prompt=negative,
                                          **common)
        return out.image_embeds, out.negative_image_embeds

    def embed_images(self, images):
        pipe = self.prior_pipe
        pixels = pipe.image_processor(images, return_tensors="pt").pixel_values
        with torch.no_grad():
            return pipe.image_encoder(pixels.to(pipe.device, pipe.image_encoder.dtype))["image_embeds"]

    def unconditional(self, count: int):
        with torch.no_grad():
            return self.prior_pipe.get_zero_embed(batch_size=count)

    def decode(self, embeds, negative, generators, settings: SamplingSettings, on_step: OnStep | None = None):
        pipe = with_scheduler(self.decoder_pipe, settings.scheduler)
        width, height = settings.size or self.image_size
        steps = settings.decoder_steps

        def callback(pipe, i, t, tensors):
            if on_step is not None:
                def preview(latents=tensors["latents"]):
                    with torch.no_grad():
                        pixels = pipe.movq.decode(latents, force_not_quantize=True)["sample"]
                    from .images import to_pil

                    return to_pil(pixels * 0.5 + 0.5)

                on_step(i + 1, steps, preview)
            return {}

        return pipe(image_embeds=embeds, negative_image_embeds=negative, height=height, width=width,
                    num_inference_steps=steps, guidance_scale=settings.decoder_guidance, generator=generators,
                    callback_on_step_end=callback).images
