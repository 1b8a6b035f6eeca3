"""What `check` refuses before a run folder is made: bad options, missing files, a size the
VQGAN cannot make, a missing `clip` loss."""

from __future__ import annotations

import artengine
from artengine import ImageTokenizer, TextImageEncoder, UsageError
from artengine.files import read_image

from .specs import read_settings


def check_steering(request, settings) -> list:
    """What every generator of the plugin checks of what steers it: the `clip` loss, the CLIP
    models (loaded now and cached, so generate() reuses them) and the image prompts (read now: a
    bad file must fail before a run folder exists). Returns the CLIP models."""
    main_loss(request)
    clips = [artengine.load_model(spec.value, request.device, TextImageEncoder, "generator.clip") for spec in settings.clip]
    for image in settings.image_prompts:
        read_image(image.value, "generator.image_prompts")
    return clips


def check_request(request) -> None:
    settings = read_settings(request.options)
    clips = check_steering(request, settings)
    vqgan = artengine.load_model(settings.vqgan, request.device, ImageTokenizer, "generator.vqgan")
    if settings.init_image:
        read_image(settings.init_image, "generator.init_image")
    width, height = request.size
    factor = int(vqgan.factor)
    if width % factor or height % factor:
        raise UsageError(
            f"size {width}x{height}: {settings.vqgan} makes images in steps of {factor} pixels; use e.g. "
            f"{max(factor, width - width % factor)}x{max(factor, height - height % factor)}"
        )
    from artengine.devices import check_fits

    from .memory import estimate_bytes

    need = estimate_bytes(request, settings, vqgan, clips)
    check_fits(need, request.device, "--size, -n or generator.cutn", f"vqgan-clip at {width}x{height} with -n {request.count}")


def main_loss(request):
    """The `clip` loss object to use: the user's (`--loss clip:W`), else a registered default."""
    for loss in request.losses:
        if loss.name == "clip":
            return loss
    from artengine import get_registry

    registry = get_registry()
    if "clip" not in registry.items["loss"]:
        raise UsageError("this generator needs the 'clip' loss, which no installed plugin registers; "
                         "install artengine's built-in 'losses' plugin")
    from artengine import resolve_options

    loss = registry.loss("clip")
    return loss({"weight": 1.0, **resolve_options(loss.options, {}, "clip_guided", "losses.clip")}, request.device)


def check_diffusion_request(request) -> None:
    """clip-diffusion's refusals: bad options, a model that is no latent denoiser, a size it
    does not make, files that do not read, a request that will not fit."""
    from .diffusion import image_size, load_denoiser
    from .memory import estimate_bytes
    from .specs import read_diffusion_settings

    settings = read_diffusion_settings(request.options)
    clips = check_steering(request, settings)
    model = load_denoiser(settings.model, request.device)  # cached: generate() reuses it
    width, height = image_size(model)
    if tuple(request.size) != (width, height):
        raise UsageError(f"--size {request.size[0]}x{request.size[1]}: {settings.model} makes {width}x{height} "
                         f"images; use --size {width}x{height}")
    from artengine.devices import check_fits

    check_fits(estimate_bytes(request, settings, model.tokenizer, clips), request.device,
               "-n or generator.cutn", f"clip-diffusion with -n {request.count}")
