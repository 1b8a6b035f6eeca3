"""The `diffusers` generator's work: a text-to-image folder drawn by diffusers' own pipeline."""

from __future__ import annotations

import inspect

import artengine
from artengine import Candidate, UsageError

from .batches import draw_in_batches
from .sampling import with_scheduler
def load_spec(spec: str, device: str):
    from .diffusers_loading import LoadedPipeline

    if not spec.startswith("diffusers:"):
        raise UsageError(f"generator.model={spec!r}: give a diffusers folder as diffusers:DIR")
    loaded = artengine.load_model(spec, device)
    if not isinstance(loaded, LoadedPipeline):
        raise UsageError(f"generator.model={spec!r} is not a diffusers text-to-image folder")
    return loaded


def check(request) -> None:
    loaded = load_spec(request.options["model"], request.device)
    width, height = request.size
    # the UNet halves the latents once per level below the first; the pipelines ask for 8 at least
    factor = max(8, int(loaded.pipe.vae_scale_factor) * 2 ** (len(loaded.pipe.unet.config.block_out_channels) - 1))
    if width % factor or height % factor:
        raise UsageError(f"--size {width}x{height}: {request.options['model']} draws sizes that are multiples of "
                         f"{factor} pixels")
    weights = {part.weight for part in request.prompt.positive}
    if len(weights) > 1:
        artengine.warn("the diffusers generator reads the prompt's parts as one text; their weights are ignored")


def generate(request, progress) -> list[Candidate]:
    options = request.options
    pipe = with_scheduler(load_spec(options["model"], request.device).pipe, options["scheduler"])
    prompt = " ".join(part.text for part in request.prompt.positive)
    negative = " ".join(part.text for part in request.prompt.negative) or None
    width, height = request.size
    steps = options["steps"]
    extra = {"eta": options["eta"]} if "eta" in inspect.signature(pipe.__call__).parameters else {}

    def draw(seeds, generators, on_step):
        def callback(pipe, i, t, tensors):
            on_step(i + 1, lambda latents=tensors["latents"]: preview(pipe, latents))
            return {}

        count = len(seeds)
        return pipe([prompt] * count, negative_prompt=None if negative is None else [negative] * count,
                    height=height, width=width, num_inference_steps=steps, guidance_scale=options["guidance"],
                    generator=generators, callback_on_step_end=callback, **extra).images

    return draw_in_batches(request, progress, steps, draw)


def preview(pipe, latents):
    """The batch's images so far: its latents decoded by the VAE."""
    vae = pipe.vae
    pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    return pipe.image_processor.postprocess(pixels, output_type="pil")
