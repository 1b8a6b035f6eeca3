"""The `diffusers` generator's work: diffusers' own pipeline, candidates a fixed batch at a time."""

from __future__ import annotations

import contextlib

import torch

import artengine
from artengine import Candidate, StopRequested, UsageError

SCHEDULER_CLASSES = {"ddim": "DDIMScheduler", "dpm++": "DPMSolverMultistepScheduler", "euler": "EulerDiscreteScheduler",
                     "euler_a": "EulerAncestralDiscreteScheduler", "ddpm": "DDPMScheduler", "pndm": "PNDMScheduler"}


def load_spec(spec: str, device: str):
    from .loading import LoadedPipeline

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


def pipeline(loaded, options):
    """The loaded pipeline, or a copy of it with another scheduler (the cached one stays as it is)."""
    pipe = loaded.pipe
    if options["scheduler"] == "default":
        return pipe
    import diffusers

    scheduler = getattr(diffusers, SCHEDULER_CLASSES[options["scheduler"]]).from_config(pipe.scheduler.config)
    copy = type(pipe)(**{**pipe.components, "scheduler": scheduler})
    copy.set_progress_bar_config(disable=True)
    return copy


def autocast(choice: str, device: str):
    bf16 = choice == "bf16" or (choice == "auto" and artengine.native_bf16(device))
    return torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def generate(request, progress) -> list[Candidate]:
    """Candidates `batch_size` at a time; every batch has that many rows (the last filled up with
    copies of its last seed), so a candidate's pixels do not depend on -n and `reproduce` remakes
    one alone, bit for bit."""
    options = request.options
    loaded = load_spec(options["model"], request.device)
    pipe = pipeline(loaded, options)
    prompt = " ".join(part.text for part in request.prompt.positive)
    negative = " ".join(part.text for part in request.prompt.negative) or None
    size, steps, every = options["batch_size"], options["steps"], options["save_every"]
    width, height = request.size
    total = request.count * steps
    extra = {"eta": options["eta"]} if "eta" in __import__("inspect").signature(pipe.__call__).parameters else {}
    candidates: list[Candidate] = []
    try:
        for first in range(0, request.count, size):
            seeds = list(request.seeds[first : first + size])
            padded = seeds + seeds[-1:] * (size - len(seeds))

            def on_step(pipe, i, t, tensors, first=first, n=len(seeds)):
                wanted = every and (i + 1) % every == 0 and i + 1 < steps
                progress(first * steps + (i + 1) * n, total, preview(pipe, tensors["latents"][:n]) if wanted else None)
                return {}

            with torch.no_grad(), autocast(options["precision"], request.device):
                images = pipe([prompt] * size, negative_prompt=None if negative is None else [negative] * size,
                              height=height, width=width, num_inference_steps=steps, guidance_scale=options["guidance"],
                              generator=[torch.Generator().manual_seed(seed) for seed in padded],
                              callback_on_step_end=on_step, **extra).images
            for seed, image in zip(seeds, images):
                candidates.append(Candidate(image.convert("RGB"), seed, {"model": options["model"]}))
    except StopRequested:
        for candidate in candidates:
            candidate.metadata["interrupted"] = True
    return candidates


def preview(pipe, latents):
    """The batch's latents so far, decoded by the VAE, side by side."""
    from PIL import Image

    vae = pipe.vae
    pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    images = pipe.image_processor.postprocess(pixels, output_type="pil")
    width, height = images[0].size
    sheet = Image.new("RGB", (width * len(images), height))
    for index, image in enumerate(images):
        sheet.paste(image, (index * width, 0))
    return sheet
