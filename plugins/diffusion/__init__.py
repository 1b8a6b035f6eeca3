"""The `diffusion` loss: score distillation from a latent diffusion model (DreamFusion's SDS).

An optimising generator's images (or its latents, when they are the model's own latent space)
are noised to a timestep, the diffusion model estimates the clean latents, and the loss pulls
the latents towards that estimate. The model is a prior over real images, so the image stays
on their manifold while CLIP steers it: what keeps vqgan-clip from drawing the fooling images
a small CLIP accepts. The model is any `artengine.LatentDenoiser` a loader gives
(`unclip:shapes` by default); this module imports no torch, `distill.py` does the work.
"""

from __future__ import annotations

import artengine
from artengine import Loss, Option


class DiffusionLoss(Loss):
    name = "diffusion"
    description = "Keep the image likely under a diffusion model (score distillation, as DreamFusion's SDS)."
    options = (
        Option("model", str, "unclip:shapes", "The diffusion model: a spec whose loader gives a latent denoiser."),
        Option("guidance", float, 3.0, "Classifier-free guidance towards the prompt's condition (1: none).",
               min=0.0),
        Option("condition", str, "prompt", "Condition the model on the prompt (through its prior) or on nothing.",
               choices=("prompt", "none")),
        Option("t_max", float, 0.9, "Noise level at the first step, as a share of the model's schedule.",
               min=0.0, max=1.0),
        Option("t_min", float, 0.1, "Noise level at the last step.", min=0.0, max=1.0),
        Option("schedule", str, "anneal", "anneal: from t_max down to t_min over the steps; random: uniform "
               "between them at each step.", choices=("anneal", "random")),
    )

    def __init__(self, options, device):
        super().__init__(options, device)
        if self.settings["t_min"] > self.settings["t_max"]:
            raise artengine.UsageError(f"losses.diffusion: t_min {self.settings['t_min']} is above t_max "
                                       f"{self.settings['t_max']}; give t_min <= t_max")
        self.run = None  # distill.Run: the current request's denoiser, conditions and noise

    def check(self, request):
        from .distill import denoiser

        denoiser(self.settings["model"], request.device)

    def __call__(self, images, context):
        from .distill import distillation

        return distillation(self, images, context)


@artengine.hookimpl
def register_losses(register):
    register(DiffusionLoss)
