"""The `vqgan-clip` generator: optimise VQGAN latents until CLIP sees the prompt in the image.

The algorithm as Katherine Crowson's notebooks run it (random codebook latents or an encoded
init image; straight-through quantisation; a clamp that keeps useful gradients; latents kept
inside the codebook's range; spherical distance between normalised CLIP embeddings), made
faster: cutouts and their augmentations are one batched sampling operation on the device,
prompt embeddings are computed once, and all candidates are optimised in one batch.

`clip-diffusion` samples a latent diffusion model (DDIM) and moves each step's estimate of the
clean image against the losses' gradient (pixray's `vdiff`, Disco Diffusion).

This module stays light; the work lives in sibling modules imported when a request runs
(steering.py holds what both share). See docs/vqgan-clip.md.
"""

from __future__ import annotations

import artengine
from artengine import Generator, Option

from .specs import AUGMENTATIONS

# What steers the image, the same in every generator of the plugin
CLIP = Option("clip", list, ["clip:shapes"],
              "CLIP model specs guiding the image, each SPEC or SPEC:WEIGHT (e.g. clip:shapes:1,clip:PATH:0.5).")
IMAGE_PROMPTS = Option("image_prompts", list, [], "Images whose CLIP embedding is a target, each PATH or "
                                                  "PATH:WEIGHT (a negative weight pushes away).")
CUTN = Option("cutn", int, 8, "Cutouts per image per step that CLIP looks at.", min=1, max=1024)
CUT_POW = Option("cut_pow", float, 1.0, "Cutout size skew: above 1 favours small cutouts, below 1 large ones.",
                 min=0.0)
AUGMENT = Option("augment", list, ["affine", "perspective", "noise"],
                 "Augmentations of the cutouts: " + ", ".join(AUGMENTATIONS) + " (empty list: none).")
SAVE_EVERY = Option("save_every", int, 0, "Send a preview every K steps (saved in the run's previews/); 0: none.",
                    min=0)
PRECISION = Option("precision", str, "auto", "Arithmetic: auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or "
                                             "bf16.", choices=("auto", "fp32", "bf16"))

OPTIONS = (
    Option("vqgan", str, "vqgan:shapes", "VQGAN model spec: vqgan:shapes, vqgan:PATH.ckpt or vqgan:DIR."),
    CLIP,
    IMAGE_PROMPTS,
    Option("init_image", str, "", "Start from this image (encoded by the VQGAN) instead of random codes."),
    Option("init_weight", float, 0.0, "Weight of the 'init' loss keeping the image near the init image "
                                      "(0: none, unless --loss init is given).", min=0.0),
    Option("diffusion_weight", float, 1.0, "Weight of the 'diffusion' loss (score distillation), added when "
                                          "its model draws in this VQGAN's latent space (0: none; --loss "
                                          "diffusion:W sets it).", min=0.0),
    Option("steps", int, 120, "Optimisation steps.", min=1, max=1_000_000),
    Option("lr", float, 0.6, "Learning rate (latent units per step, roughly).", min=0.0),
    Option("optimizer", str, "adam", "Optimiser of the latents.", choices=("adam", "adamw")),
    Option("lr_decay", float, 0.1, "Share of the learning rate left at the last step (exponential decay); "
                                   "1 keeps it constant.", min=1e-6, max=1.0),
    CUTN,
    CUT_POW,
    AUGMENT,
    SAVE_EVERY,
    Option("animate", bool, False, "Save an animated GIF of each candidate's progress beside its PNG "
                                   "(a frame every save_every steps, else 40 frames)."),
    PRECISION,
)


class VQGANCLIP(Generator):
    name = "vqgan-clip"
    description = "Optimises VQGAN latents so that CLIP matches the prompt (Crowson's method, batched)."
    options = OPTIONS
    default_size = (64, 64)
    memory_hint = "generator.cutn"
    takes_losses = True

    def check(self, request):
        from .checks import check_request

        check_request(request)

    def generate(self, request, progress):
        from .loop import generate

        return generate(request, progress)


DIFFUSION_OPTIONS = (
    Option("model", str, "unclip:shapes", "The diffusion model sampled: a spec whose loader gives a latent "
                                         "denoiser (unclip:shapes, unclip:FOLDER)."),
    CLIP,
    IMAGE_PROMPTS,
    Option("steps", int, 50, "DDIM steps, each one steered.", min=1, max=1000),
    Option("clip_guidance", float, 0.3, "How far each step's clean estimate moves against the losses' gradient "
                                       "(0: the model alone).", min=0.0),
    Option("condition", str, "prompt", "What the model itself is conditioned on: the prompt (through the model's "
                                      "prior) or none (CLIP alone steers, as pixray's vdiff).",
           choices=("prompt", "none")),
    Option("guidance", float, 3.0, "Classifier-free guidance of the model when condition=prompt (1 = off).",
           min=0.0),
    Option("eta", float, 0.0, "DDIM's eta: 0 is deterministic, 1 as random as DDPM.", min=0.0, max=1.0),
    CUTN,
    CUT_POW,
    AUGMENT,
    Option("snap", bool, True, "Snap the final latents to the nearest VQGAN codes before decoding (crisp edges)."),
    SAVE_EVERY,
    PRECISION,
)


class ClipDiffusion(Generator):
    name = "clip-diffusion"
    description = "DDIM sampling of a latent diffusion model, each step steered by CLIP's gradient (pixray's vdiff)."
    options = DIFFUSION_OPTIONS
    memory_hint = "generator.cutn"
    takes_losses = True

    def size_for(self, options, device):
        from .diffusion import image_size, load_denoiser

        return image_size(load_denoiser(options["model"], device))

    def check(self, request):
        from .checks import check_diffusion_request

        check_diffusion_request(request)

    def generate(self, request, progress):
        from .diffusion import generate

        return generate(request, progress)


@artengine.hookimpl
def register_generators(register):
    register(VQGANCLIP)
    register(ClipDiffusion)
