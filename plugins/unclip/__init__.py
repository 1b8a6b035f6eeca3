"""Built-in plugin `unclip`: diffusion models on diffusers (docs/unclip.md).

- generator `unclip`: DALL·E 2, a CLIP prior and a diffusion decoder; `unclip:` models (the
  shipped shapes model, folders from `artengine train unclip`, Kandinsky 2.2 pipeline folders);
  the trainer behind `artengine train unclip`;
- generator `diffusers`: any local diffusers text-to-image folder (`diffusers:DIR`: Stable
  Diffusion 1.x/2.x/XL, ...) drawn by diffusers' own pipeline.

This module stays light: torch and diffusers load only inside the sibling modules.
"""

from __future__ import annotations

import dataclasses

import artengine
from artengine import Generator, ModelInfo, ModelLoader, Option

__version__ = "0.1.0"

SCHEDULERS = ("default", "ddim", "dpm++", "ddpm", "euler")
PIPELINE_SCHEDULERS = ("default", "ddim", "dpm++", "euler", "euler_a", "ddpm", "pndm")
# what every diffusion generator here takes beside its steps and guidance
BATCH_SIZE = Option("batch_size", int, 4, "Candidates drawn together (every batch has this many rows, so a candidate "
                    "does not depend on -n).", min=1)
PRECISION = Option("precision", str, "auto", "Arithmetic: auto (bf16 where the hardware has it natively), fp32 or bf16.",
                   choices=("auto", "fp32", "bf16"))
ETA = Option("eta", float, 0.0, "DDIM's eta: 0 is deterministic, 1 as random as DDPM.", min=0.0, max=1.0)

# a diffusers pipeline folder: configs, tokenizer files and full-precision safetensors (no pickles)
_DIFFUSERS = {"files": ["*.json", "*.txt", "*.safetensors"], "skip": ["*fp16*"]}
# unclip:NAME -> where it is published (plugins/hub fetches and verifies it; docs/models.md)
PUBLISHED = {
    "kandinsky-2.2": {"description": "Kandinsky 2.2: CLIP prior + MoVQ decoder (diffusers' pipelines)",
                      "size": "~10-20 GB (Hub metadata at download)", "licence": "Apache-2.0",
                      "source": "huggingface.co/kandinsky-community",
                      "parts": [{"repo": "kandinsky-community/kandinsky-2-2-prior", "folder": "prior", **_DIFFUSERS},
                                {"repo": "kandinsky-community/kandinsky-2-2-decoder", "folder": "decoder", **_DIFFUSERS}]},
}


class UnclipGenerator(Generator):
    name = "unclip"
    description = "DALL·E 2 (unCLIP): a CLIP prior turns the prompt into an image embedding, a diffusion decoder draws it."
    default_size = (64, 64)
    memory_hint = "generator.batch_size"
    options = (
        Option("model", str, "unclip:shapes", "unclip:shapes (shipped), unclip:FOLDER from `train unclip`, or Kandinsky "
               "2.2: unclip:PRIOR_DIR,DECODER_DIR (or a folder holding prior/ and decoder/)."),
        Option("prior_steps", int, 8, "Denoising steps of the prior.", min=1, max=1000),
        Option("prior_guidance", float, 4.0, "Classifier-free guidance of the prior (1 = off); negative prompt parts "
               "are what it steers away from.", min=0.0, max=50.0),
        Option("decoder_steps", int, 8, "Denoising steps of the decoder.", min=1, max=1000, infotext="Steps"),
        Option("decoder_guidance", float, 2.0, "Classifier-free guidance of the decoder (1 = off).", min=0.0,
               max=50.0, infotext="CFG scale"),
        Option("scheduler", str, "default", "Sampler of both loops: the model's own (default: DPM-Solver++ for folders "
               "from `train unclip`), ddim, dpm++ (DPM-Solver++), ddpm or euler.", choices=SCHEDULERS, infotext="Sampler"),
        ETA,
        Option("prior_candidates", int, 1, "Image embeddings the prior draws per candidate, keeping the one closest "
               "to the text (DALL·E 2 used 2).", min=1, max=16),
        Option("snap", bool, True, "Snap the decoder's latents to the nearest VQGAN codes before decoding (crisper "
               "edges; models from `train unclip`)."),
        Option("image", str, "", "Variations: draw this image's CLIP embedding instead of the prompt's."),
        Option("mix", list, [], "Texts or image files to blend in, each TEXT_OR_IMAGE[:WEIGHT] (repeatable)."),
        Option("mix_weight", float, 0.5, "How far toward the mix: 0 is the prompt (or image) alone, 1 the mix alone; "
               "a compare axis over it morphs.", min=0.0, max=1.0),
        dataclasses.replace(BATCH_SIZE, default=8),  # a batch of 8 draws 8 candidates 1.5x faster than two of 4
        PRECISION,
        Option("save_every", int, 0, "Send a preview of the candidates every K decoder steps (saved in the run's "
               "previews/); 0: none.", min=0),
    )

    def size_for(self, options, device):
        from .generator import load_spec

        return tuple(load_spec(options["model"], device).image_size)

    def check(self, request):
        from .generator import check

        check(request)

    def generate(self, request, progress):
        from .generator import generate

        return generate(request, progress)


class UnclipLoader(ModelLoader):
    kind = "unclip"
    description = "DALL·E 2-style models: a CLIP prior and a diffusion decoder (diffusers' folder layout)"
    spec_forms = ("unclip:shapes  (shipped: over clip:shapes and vqgan:shapes)",
                  "unclip:FOLDER  (from `artengine train unclip`)",
                  "unclip:PRIOR_DIR,DECODER_DIR  (Kandinsky 2.2 in diffusers' layout; or a FOLDER holding prior/ "
                  "and decoder/)",
                  "unclip:kandinsky-2.2  (published: fetched on first use, `artengine models pull`)")
    published = PUBLISHED

    def available(self) -> list[ModelInfo]:
        from .loading import shipped_cards

        return [*(ModelInfo(f"unclip:{name}", card.get("description", "unclip model"), card.get("figures", {}))
                  for name, card in shipped_cards().items()),
                *(ModelInfo(f"unclip:{name}", e["description"], {k: e[k] for k in ("size", "licence", "source")})
                  for name, e in PUBLISHED.items())]

    def load(self, name: str, device: str):
        from .loading import load_unclip

        if name in PUBLISHED:  # the folder the hub plugin fetched and verified: prior/ and decoder/
            name = str(artengine.load_model(f"hub:unclip:{name}"))

        return load_unclip(name, device)


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
               "euler, euler_a (ancestral), ddpm or pndm.", choices=PIPELINE_SCHEDULERS, infotext="Sampler"),
        ETA,
        BATCH_SIZE,
        PRECISION,
        Option("save_every", int, 0, "Send a preview of the candidates every K steps (saved in the run's "
               "previews/); 0: none.", min=0),
    )

    def size_for(self, options, device):
        from .diffusers_generator import load_spec

        return load_spec(options["model"], device).image_size

    def check(self, request):
        from .diffusers_generator import check

        check(request)

    def generate(self, request, progress):
        from .diffusers_generator import generate

        return generate(request, progress)


class DiffusersLoader(ModelLoader):
    kind = "diffusers"
    description = "diffusers text-to-image folders (Stable Diffusion 1.x/2.x/XL, ...), loaded offline"
    spec_forms = ("diffusers:DIR  (diffusers' save_pretrained layout: model_index.json + component folders)",)

    def load(self, name: str, device: str):
        from .diffusers_loading import load_pipeline

        return load_pipeline(name, device)


@artengine.hookimpl
def register_generators(register):
    register(UnclipGenerator)
    register(DiffusersGenerator)


@artengine.hookimpl
def register_model_loaders(register):
    register(UnclipLoader())
    register(DiffusersLoader())


@artengine.hookimpl
def register_trainers(register):
    from .train import UnclipTrainer  # light: torch and diffusers load when training starts

    register(UnclipTrainer)
