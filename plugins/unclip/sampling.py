"""The two sampling loops of unCLIP, over diffusers' networks and schedulers.

Both run classifier-free guidance as diffusers' Kandinsky 2.2 pipelines do: the unconditional
(or negative) rows first, then the conditioned ones, in one batch. Every candidate draws its
noise from its own torch.Generator, so a candidate depends on its seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

SCHEDULERS = ("ddim", "dpm++", "ddpm", "euler")
"""The samplers unCLIP's own loops run; diffusers' pipelines take every name of SCHEDULER_CLASSES."""
SCHEDULER_CLASSES = {"ddim": "DDIMScheduler", "dpm++": "DPMSolverMultistepScheduler", "ddpm": "DDPMScheduler",
                     "euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
                     "pndm": "PNDMScheduler"}


def make_scheduler(name: str, config):
    """A sampling scheduler of the kind `name`, from the training schedule's config."""
    import diffusers

    return getattr(diffusers, SCHEDULER_CLASSES[name]).from_config(config)


def with_scheduler(pipe, name: str):
    """`pipe`, or for another sampler than its own ("default") a copy of it with that one (the
    cached pipeline stays as it is)."""
    if name == "default":
        return pipe
    copy = type(pipe)(**{**pipe.components, "scheduler": make_scheduler(name, pipe.scheduler.config)})
    copy.set_progress_bar_config(disable=True)
    return copy


@dataclass
class Guided:
    """A denoiser call with classifier-free guidance: `model(x, t, conditions)` on the batch
    [x, x] with conditions [negative, positive], mixed as negative + scale * (positive - negative).
    `t` is one timestep, or one per row of x."""

    model: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    positive: torch.Tensor
    negative: torch.Tensor
    scale: float

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        if self.scale == 1.0:
            return self.model(x, t, self.positive)
        both_t = torch.cat([t, t]) if isinstance(t, torch.Tensor) and t.ndim else t
        out = self.model(torch.cat([x, x]), both_t, torch.cat([self.negative, self.positive]))
        negative, positive = out.chunk(2)
        return negative + self.scale * (positive - negative)


def denoise(denoiser: Callable, scheduler, x: torch.Tensor, steps: int, generators, eta: float,
            on_step: Callable[[int, int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Run `scheduler` for `steps` from noise `x` (already drawn); `on_step(i, steps, x0)` after
    each step with the step's prediction of the clean sample."""
    import inspect

    scheduler.set_timesteps(steps, device=x.device)
    x = x * scheduler.init_noise_sigma
    extra = {}
    parameters = inspect.signature(scheduler.step).parameters
    if "eta" in parameters:
        extra["eta"] = eta
    if "generator" in parameters:
        extra["generator"] = generators
    for i, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(x, t)
        out = scheduler.step(denoiser(model_input, t), t, x, **extra)
        x = out.prev_sample
        if on_step is not None:
            on_step(i + 1, steps, clean_estimate(out, scheduler))
    return x


def clean_estimate(out, scheduler) -> torch.Tensor | None:
    """A step's estimate of the clean sample, as the scheduler made it: DDIM, DDPM and Euler
    return it; DPM-Solver++ keeps it as its last converted model output."""
    clean = getattr(out, "pred_original_sample", None)
    if clean is None and getattr(scheduler.config, "algorithm_type", "") in ("dpmsolver++", "sde-dpmsolver++"):
        clean = scheduler.model_outputs[-1]
    return clean


def noise(shape: tuple[int, ...], generators: list[torch.Generator], device) -> torch.Tensor:
    """One row of standard normal noise per generator, drawn on the CPU (the same numbers on
    every device)."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)
