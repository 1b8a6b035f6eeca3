"""Built-in plugin `text_to_image`: any local diffusers text-to-image folder as a generator.

Registers the generator `diffusers` and the model loader for `diffusers:DIR` specs: a folder in
diffusers' save_pretrained layout (Stable Diffusion 1.x/2.x/XL and whatever else
AutoPipelineForText2Image resolves), drawn by diffusers' own pipeline with artengine's seeds,
previews, Stop, reranking and infotext. This module stays light: diffusers loads on first use.
"""

from __future__ import annotations

import artengine
from artengine import Generator, ModelLoader, Option

__version__ = "0.1.0"

SCHEDULERS = ("default", "ddim", "dpm++", "euler", "euler_a", "ddpm", "pndm")


class DiffusersGenerator(Generator):
    name = "diffusers"
    description = "A diffusers text-to-image folder (Stable Diffusion 1.x/2.x/XL, ...) drawn by diffusers' own pipeline."
    default_size = (512, 512)
    memory_hint = "generator.batch_size"
    options = (
        Option("model", str, "", "diffusers:DIR, a folder in diffusers' layout (model_index.json and one folder "
               "per component, safetensors weights).", infotext="Model"),
        Option("steps", int, 25, "Denoising steps.", min=1, max=1000),
        Option("guidance", float, 7.5, "Classifier-free guidance (1 = off); negative prompt parts are what it "
               "steers away from.", min=0.0, max=50.0, infotext="CFG scale"),
        Option("scheduler", str, "default", "Sampler: the folder's own (default), ddim, dpm++ (DPM-Solver++), "
               "euler, euler_a (ancestral), ddpm or pndm.", choices=SCHEDULERS, infotext="Sampler"),
        Option("eta", float, 0.0, "DDIM's eta: 0 is deterministic, 1 as random as DDPM.", min=0.0, max=1.0),
        Option("batch_size", int, 4, "Candidates drawn together (every batch has this many rows, so a candidate "
               "does not depend on -n).", min=1),
        Option("precision", str, "auto", "Arithmetic: auto (bf16 where the hardware has it natively), fp32 or bf16.",
               choices=("auto", "fp32", "bf16")),
        Option("save_every", int, 0, "Send a preview of the candidates every K steps (saved in the run's "
               "previews/); 0: none.", min=0),
    )

    def size_for(self, options, device):
        from .generator import load_spec

        return load_spec(options["model"], device).image_size

    def check(self, request):
        from .generator import check

        check(request)

    def generate(self, request, progress):
        from .generator import generate

        return generate(request, progress)


class DiffusersLoader(ModelLoader):
    kind = "diffusers"
    description = "diffusers text-to-image folders (Stable Diffusion 1.x/2.x/XL, ...), loaded offline"
    spec_forms = ("diffusers:DIR  (diffusers' save_pretrained layout: model_index.json + component folders)",)

    def load(self, name: str, device: str):
        from .loading import load_pipeline

        return load_pipeline(name, device)


@artengine.hookimpl
def register_generators(register):
    register(DiffusersGenerator)


@artengine.hookimpl
def register_model_loaders(register):
    register(DiffusersLoader())
