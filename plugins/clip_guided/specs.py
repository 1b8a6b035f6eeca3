"""Reading the generator's options into checked values. No torch here: `check` runs this
before any heavy work, and so do the error messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from artengine import UsageError, split_weight

AUGMENTATIONS = ("flip", "affine", "perspective", "colour", "noise")


@dataclass(frozen=True)
class Weighted:
    value: str
    weight: float


@dataclass(frozen=True)
class SteeringSettings:
    """The options every generator of the plugin steers with, checked (steering.py reads them)."""

    clip: tuple[Weighted, ...]
    image_prompts: tuple[Weighted, ...]
    steps: int
    cutn: int
    cut_pow: float
    augment: frozenset[str]
    save_every: int
    precision: str


@dataclass(frozen=True)
class VqganClipSettings(SteeringSettings):
    """vqgan-clip's options, checked."""

    vqgan: str
    init_image: str
    init_weight: float
    diffusion_weight: float
    lr: float
    optimizer: str
    lr_decay: float
    animate: bool


@dataclass(frozen=True)
class ClipDiffusionSettings(SteeringSettings):
    """clip-diffusion's options, checked."""

    model: str
    clip_guidance: float
    condition: str
    guidance: float
    eta: float
    snap: bool


def _steering(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    return dict(clip=_clip_specs(options["clip"], f"{where}.clip"),
                image_prompts=_image_prompts(options["image_prompts"], f"{where}.image_prompts"),
                steps=options["steps"], cutn=options["cutn"], cut_pow=options["cut_pow"],
                augment=_augmentations(options["augment"], f"{where}.augment"),
                save_every=options["save_every"], precision=options["precision"])


def read_settings(options: Mapping[str, Any]) -> VqganClipSettings:
    where = "generator"
    vqgan = options["vqgan"].strip()
    if not vqgan.startswith("vqgan:") or len(vqgan) == len("vqgan:"):
        raise UsageError(f"{where}.vqgan: {vqgan!r} is not a VQGAN spec; write vqgan:shapes, vqgan:PATH.ckpt or vqgan:DIR")
    return VqganClipSettings(
        **_steering(options, where),
        vqgan=vqgan,
        init_image=_existing_file(options["init_image"], f"{where}.init_image") if options["init_image"] else "",
        init_weight=options["init_weight"],
        diffusion_weight=options["diffusion_weight"],
        lr=options["lr"],
        optimizer=options["optimizer"],
        lr_decay=options["lr_decay"],
        animate=options["animate"],
    )


def read_diffusion_settings(options: Mapping[str, Any]) -> ClipDiffusionSettings:
    return ClipDiffusionSettings(
        **_steering(options, "generator"),
        model=options["model"].strip(),
        clip_guidance=options["clip_guidance"],
        condition=options["condition"],
        guidance=options["guidance"],
        eta=options["eta"],
        snap=options["snap"],
    )


def _clip_specs(values: list[str], where: str) -> tuple[Weighted, ...]:
    if not values:
        raise UsageError(f"{where}: give at least one CLIP model, e.g. clip:shapes")
    specs = []
    for value in values:
        spec, weight = split_weight(value, where, example="clip:shapes:0.5", colons_in_name=True)
        if not spec.startswith("clip:") or len(spec) == len("clip:"):
            raise UsageError(f"{where}: {value!r} is not a CLIP spec; write clip:NAME or clip:NAME:WEIGHT, e.g. clip:shapes:0.5")
        specs.append(Weighted(spec, 1.0 if weight is None else weight))
    return tuple(specs)


def _image_prompts(values: list[str], where: str) -> tuple[Weighted, ...]:
    prompts = []
    for value in values:
        path, weight = split_weight(value, where, example="image.png:0.5", colons_in_name=True)
        prompts.append(Weighted(_existing_file(path, where), 1.0 if weight is None else weight))
    return tuple(prompts)


def _augmentations(values: list[str], where: str) -> frozenset[str]:
    for value in values:
        if value not in AUGMENTATIONS:
            from artengine import closest

            raise UsageError(f"{where}: unknown augmentation {value!r}{closest(value, AUGMENTATIONS)}; "
                             f"choose from {', '.join(AUGMENTATIONS)}")
    return frozenset(values)


def _existing_file(path: str, where: str) -> str:
    if not Path(path).is_file():
        raise UsageError(f"{where}: image file {path!r} does not exist")
    return path
