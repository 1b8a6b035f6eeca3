"""The `unclip` generator's work: prompt (or image, or a mix) -> image embedding -> decoder."""

from __future__ import annotations

import torch

import artengine
import artengine.devices
import artengine.files
from artengine import Candidate, UsageError

from .batches import draw_in_batches
from .conditions import blend, is_image, negative_text, parse_mix, prompt_texts, slerp
from .model import SamplingSettings


def settings_of(request) -> SamplingSettings:
    o = request.options
    return SamplingSettings(o["prior_steps"], o["prior_guidance"], o["decoder_steps"], o["decoder_guidance"],
                    o["scheduler"], o["eta"], o["prior_candidates"], o["snap"], tuple(request.size))


def load_spec(spec: str, device: str):
    """The UnclipModel that generator.model names."""
    from .model import UnclipModel

    if not spec.startswith("unclip:"):
        raise UsageError(f"generator.model={spec!r}: give an unclip model, unclip:shapes, unclip:FOLDER or "
                         "unclip:PRIOR_DIR,DECODER_DIR")
    model = artengine.load_model(spec, device)
    if not isinstance(model, UnclipModel):
        raise UsageError(f"generator.model={spec!r} is not an unCLIP model; give unclip:shapes or unclip:FOLDER")
    return model


def load(request):
    """The model, checked against the request (raises UsageError before any heavy work)."""
    spec = request.options["model"]
    model = load_spec(spec, request.device)
    if request.options["scheduler"] not in model.schedulers:
        raise UsageError(f"generator.scheduler={request.options['scheduler']!r}: {spec} runs "
                         f"{', '.join(model.schedulers)}")
    return model


def check(request) -> None:
    model = load(request)
    options = request.options
    if tuple(request.size) != tuple(model.image_size) and not getattr(model, "any_size", False):
        width, height = model.image_size
        raise UsageError(f"--size {request.size[0]}x{request.size[1]}: {options['model']} makes {width}x{height} "
                         f"images; use --size {width}x{height}")
    if options["image"]:
        artengine.files.read_image(options["image"], "generator.image")
    for entry, _ in parse_mix(options["mix"]):
        if is_image(entry):
            artengine.files.read_image(entry, "generator.mix")
    from .memory import estimate_bytes

    artengine.devices.check_fits(estimate_bytes(model, options["batch_size"]), request.device,
                                 "generator.batch_size", f"unclip with {options['batch_size']} candidates at once")


def conditions(model, request, seeds, generators, settings):
    """(conditions, negative conditions) for the decoder, a row per generator.

    The prompt's prior draws from `generators` (then the decoder does, as with diffusers' own
    pipelines); each text of a mix draws from generators of its own, derived from the seeds, so
    that a mix leaves the decoder's noise as it was: mix_weight 0 is the prompt's image exactly,
    and a morph changes the embedding alone."""
    options, count = request.options, len(generators)
    if options["image"]:  # variations: the image's own embedding instead of the prompt's
        embeds = rows(model.embed_images([artengine.files.read_image(options["image"], "generator.image")]), count)
        negative = model.unconditional(count)
    else:
        embeds, negative = model.embed_prompt(prompt_texts(request.prompt), negative_text(request.prompt),
                                              generators, settings)
    mix = parse_mix(options["mix"])
    if mix:
        targets = [embed_entry(model, entry, forked(seeds, number), settings) for number, (entry, _) in enumerate(mix)]
        embeds = slerp(embeds, blend(targets, [weight for _, weight in mix]), options["mix_weight"])
    return embeds, negative


def forked(seeds, number: int):
    import hashlib

    def seed_of(seed):
        return int.from_bytes(hashlib.sha256(f"mix:{number}:{seed}".encode()).digest()[:8], "big") >> 1

    return [torch.Generator().manual_seed(seed_of(seed)) for seed in seeds]


def embed_entry(model, entry: str, generators, settings):
    if is_image(entry):
        return rows(model.embed_images([artengine.files.read_image(entry, "generator.mix")]), len(generators))
    return model.embed_prompt([(entry, 1.0)], "", generators, settings)[0]


def rows(condition: torch.Tensor, count: int) -> torch.Tensor:
    """One condition repeated for `count` candidates."""
    return condition.expand(count, *condition.shape[1:])


def generate(request, progress) -> list[Candidate]:
    model = load(request)
    settings = settings_of(request)

    def draw(seeds, generators, on_step):
        embeds, negative = conditions(model, request, seeds, generators, settings)
        return model.decode(embeds, negative, generators, settings, lambda i, steps, preview: on_step(i, preview))

    return draw_in_batches(request, progress, settings.decoder_steps, draw)
