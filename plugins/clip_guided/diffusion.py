"""The `clip-diffusion` generator: DDIM sampling of a latent diffusion model, with the gradient of
CLIP's loss (and every other chosen loss) applied to each step's estimate of the clean image, as
pixray's `vdiff` drawer and Disco Diffusion steer their samplers.

At each step the model estimates the clean latents x0 from the noisy ones (no gradient through
it), x0 is decoded by the model's VQGAN, the losses are taken on the decoded image, and x0 moves
against their gradient before the scheduler takes its step from it. The diffusion model keeps the
image among the images it was trained on; CLIP decides which of them. Each candidate draws its
noise and its cutouts from its own seed.
"""

from __future__ import annotations

import torch

import artengine
from artengine import Candidate, LatentDenoiser

from .images import side_by_side, to_images
from .latents import decode, quantize
from .specs import read_diffusion_settings
from .state import generator_states, identity, load_state, restore_generators, save_state
from .steering import Steering, precision, run_request, with_main_loss

STATE_FILE = "clip-diffusion.pt"


def load_denoiser(spec: str, device: str) -> LatentDenoiser:
    return artengine.load_model(spec, device, LatentDenoiser, "generator.model")


def image_size(model: LatentDenoiser) -> tuple[int, int]:
    _, height, width = model.latent_shape
    factor = int(model.tokenizer.factor)
    return width * factor, height * factor


def generate(request, progress) -> list[Candidate]:
    run = Sampling(request)
    return run_request(run, progress, run.model.tokenizer, *run.steering.models)


class Sampling:
    """One request's sampler, latents, random generators and steering."""

    def __init__(self, request):
        from diffusers import DDIMScheduler

        self.request, self.device = request, request.device
        self.settings = settings = read_diffusion_settings(request.options)
        self.model = load_denoiser(settings.model, self.device)
        self.codebook = self.model.tokenizer.codebook.detach()
        self.steering = Steering(request, settings, settings.steps, with_main_loss(request), self.model.tokenizer)
        self.generators = self.steering.generators  # the first noise, then eta's noise and the cutouts
        self.scheduler = DDIMScheduler.from_config(self.model.noise_schedule.config, prediction_type="sample",
                                                   clip_sample=False)
        self.scheduler.set_timesteps(settings.steps)
        self.state_dir = getattr(request, "state_dir", None)
        self.identity = identity(request, settings.model)
        self.first_step = self.done = 0
        self.interrupted = False
        self.clean: torch.Tensor | None = None  # the last steered estimate: what a stopped run shows

    def start(self) -> None:
        """The first noise and the model's condition, or the state of a stopped run."""
        count = self.request.count
        if self.settings.condition == "prompt":
            self.conditions, self.negative = self.model.condition(self.request.prompt, self.generators)
        else:
            self.conditions = self.negative = self.model.unconditional(count)
        self.x = torch.stack([torch.randn(self.model.latent_shape, generator=g) for g in self.generators])
        self.x = self.x.to(self.device) * self.scheduler.init_noise_sigma
        saved = load_state(self.state_dir, self.identity, self.device, STATE_FILE)
        if saved is not None:
            self.x = saved["latents"].to(self.device)
            restore_generators(self.generators, saved["generators"])
            self.first_step = self.done = int(saved["step"])

    def loop(self, progress) -> None:
        settings = self.settings
        progress(self.first_step, settings.steps)
        for step in range(self.first_step, settings.steps):
            images = self.step(step)
            wants_preview = settings.save_every > 0 and self.done % settings.save_every == 0
            progress(self.done, settings.steps, side_by_side(to_images(images)) if wants_preview else None)

    def step(self, step: int) -> torch.Tensor:
        """One denoising step, steered; returns the images the losses saw."""
        t = self.scheduler.timesteps[step]
        clean = self._estimate(t)
        steered, images = self._steer(clean, step, t)
        self.clean = steered
        self.x = self.scheduler.step(steered.to(self.x.dtype), t, self.x, eta=self.settings.eta,
                                     generator=self.generators).prev_sample
        self.done = step + 1
        return images

    @torch.no_grad()
    def _estimate(self, t) -> torch.Tensor:
        """The model's clean latents (normalised) from this step's noisy ones, with classifier-free
        guidance towards the prompt's condition when the sampler is conditioned."""
        count = self.x.shape[0]
        times = torch.full((count,), int(t), dtype=torch.long)
        negative = None if self.settings.condition == "none" else self.negative
        with precision(self.settings.precision, self.device):
            return self.model.predict_clean(self.x, times, self.conditions, negative, self.settings.guidance).float()

    def _steer(self, clean: torch.Tensor, step: int, t) -> tuple[torch.Tensor, torch.Tensor]:
        """`clean` moved against the losses' gradient, each candidate by `clip_guidance` times its
        own unit-RMS gradient, scaled by the noise left at t (large early, small at the end)."""
        clean = clean.detach().requires_grad_(self.settings.clip_guidance > 0)  # at 0, no graph to build
        with precision(self.settings.precision, self.device):
            latents = self.model.denormalise(clean)
            quantized = quantize(latents, self.codebook)
            images = decode(self.model.tokenizer, quantized)
            total = self.steering.total(images, step, latents=latents, quantized=quantized)
        if self.settings.clip_guidance == 0:
            return clean.detach(), images.detach()
        # losses are batch means: scaled by the count, each candidate gets its own gradient
        (gradient,) = torch.autograd.grad(total * clean.shape[0], clean)
        rms = gradient.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp(min=1e-12)
        noise_left = (1 - self.scheduler.alphas_cumprod[int(t)]).sqrt()
        return (clean - self.settings.clip_guidance * noise_left * gradient / rms).detach(), images.detach()

    def save(self) -> None:
        """Keep what `--resume` needs, when the core gave this request a state folder."""
        if self.state_dir is not None:
            save_state(self.state_dir, {"identity": self.identity, "step": self.done, "latents": self.x.detach(),
                                        "generators": generator_states(self.generators)}, STATE_FILE)

    def candidates(self) -> list[Candidate]:
        finished = self.done == self.settings.steps or self.clean is None
        with torch.no_grad(), precision(self.settings.precision, self.device):
            latents = self.model.denormalise((self.x if finished else self.clean).float())
            final = decode(self.model.tokenizer, quantize(latents, self.codebook) if self.settings.snap else latents)
            final = final.float()
            records = self.steering.metadata(self, final)
        return [Candidate(picture, seed, metadata)
                for picture, seed, metadata in zip(to_images(final), self.request.seeds, records)]
