"""Built-in plugin `dalle`: a DALL-E-style token transformer (docs/dalle.md).

A GPT-2 (from `transformers`) reads a caption's tokens, then writes an image as a sequence of
VQGAN codes; many candidates are drawn fast and the core's `--keep K` reranks them with CLIP.
Registers the generator `dalle`, the model loader for `dalle:` specs and the trainer behind
`artengine train dalle`. This module stays light: torch and transformers load only inside the
sibling modules.
"""

from __future__ import annotations

import artengine
from artengine import Generator, ModelInfo, ModelLoader, Option, UsageError

__version__ = "0.1.0"


MODEL_KINDS = ("dalle", "dalle-bart")


class DalleGenerator(Generator):
    name = "dalle"
    description = "DALL-E-style transformer: samples VQGAN codes from a caption (rerank with --keep)."
    default_size = (64, 64)
    memory_hint = "generator.batch_size"
    options = (
        Option("model", str, "dalle:shapes", "Checkpoint: dalle:shapes (shipped), dalle:FOLDER from `train dalle`, "
               "or dalle-bart:DIR (DALL·E Mini/Mega in min-dalle's folder)."),
        Option("temperature", float, 1.0, "Softmax temperature over image codes; 0 takes the most likely code.",
               min=0.0),
        Option("top_k", int, 0, "Sample among the k most likely image codes; 0 = all.", min=0),
        Option("top_p", float, 1.0, "Nucleus: the fewest image codes whose probability reaches p; 1 = all.",
               min=0.01, max=1.0),
        Option("guidance", float, 1.0, "Classifier-free guidance scale (1 = off); negative prompt parts are "
               "what it steers away from.", min=0.0, max=50.0, infotext="CFG scale"),
        Option("init_image", str, "", "Image whose top rows of codes every candidate starts from (priming)."),
        Option("prime_rows", int, 0, "Rows of codes taken from init_image; 0 = half of them.", min=0),
        Option("batch_size", int, 16, "Code maps sampled together (each tile of a grid is one).", min=1),
        Option("grid", int, 1, "Each image is a grid x grid picture of tiles, each sampled from the caption on "
               "its own (min-dalle's grid_size); 1: one tile.", min=1),
        Option("seamless", bool, False, "Decode a grid's tiles joined as one map of codes, so they blend into one "
               "picture without seams (min-dalle's is_seamless); needs grid 2 or more."),
        Option("precision", str, "auto", "Arithmetic: auto (bf16 where the hardware has it: CUDA, CPUs with "
               "AVX512-BF16 or AMX; else fp32), fp32 or bf16.", choices=("auto", "fp32", "bf16")),
        Option("save_every", int, 0, "Send a preview of the candidates' rows of codes so far every K rows "
               "(saved in the run's previews/); 0: none.", min=0),
        Option("cuda_graphs", bool, True, "On CUDA, replay each token's step as one captured CUDA graph "
               "(one launch instead of hundreds); false runs it eagerly."),
    )

    def size_for(self, options, device):
        width, height = self.model_size(options["model"], device)
        return width * options["grid"], height * options["grid"]

    @staticmethod
    def model_size(spec: str, device: str) -> tuple[int, int]:
        """The size the model makes, which is the only one it can make."""
        kind, _, name = spec.partition(":")
        if kind not in MODEL_KINDS or not name:
            raise UsageError(f"generator.model={spec!r}: give a dalle checkpoint, 'dalle:shapes', 'dalle:FOLDER' "
                             "or 'dalle-bart:DIR'")
        if kind == "dalle-bart":
            return artengine.load_model(spec, device).image_size
        from .checkpoint import image_size, read_config, resolve_folder

        return image_size(read_config(resolve_folder(name)))

    def check(self, request):
        spec, grid = request.options["model"], request.options["grid"]
        if request.options["seamless"] and grid == 1:
            raise UsageError("generator.seamless=true joins the tiles of a grid, but generator.grid is 1; set "
                             "generator.grid=2 (or more) to make each image a seamless grid x grid picture")
        size = self.size_for(request.options, request.device)
        if tuple(request.size) != size:
            tiles = f" ({grid}x{grid} tiles)" if grid > 1 else ""
            raise UsageError(f"--size {request.size[0]}x{request.size[1]}: model {spec} makes {size[0]}x{size[1]} "
                             f"images{tiles}; use --size {size[0]}x{size[1]}")
        from .generator import check_loadable

        check_loadable(request)  # the model and the init image, before a run folder exists

    def generate(self, request, progress):
        from .generator import generate

        return generate(request, progress)


class DalleLoader(ModelLoader):
    kind = "dalle"
    description = "DALL-E-style transformers (GPT-2 over caption tokens and VQGAN codes)"
    spec_forms = ("dalle:shapes  (shipped: over vqgan:shapes)", "dalle:FOLDER  (a checkpoint from `artengine train dalle`)")

    def available(self) -> list[ModelInfo]:
        from .checkpoint import SHIPPED, WEIGHTS_FILE, read_config

        found = []
        for name, folder in SHIPPED.items():
            if (folder / WEIGHTS_FILE).is_file():
                card = read_config(folder).get("card", {})
                found.append(ModelInfo(f"dalle:{name}", card.get("description", "dalle model"), card.get("figures", {})))
        return found

    def load(self, name: str, device: str):
        from .bundle import load_dalle

        return load_dalle(name, device)


@artengine.hookimpl
def register_generators(register):
    register(DalleGenerator)


@artengine.hookimpl
def register_model_loaders(register):
    from .bart import DalleBartLoader

    register(DalleLoader())
    register(DalleBartLoader())


@artengine.hookimpl
def register_trainers(register):
    from .train import DalleTrainer  # light: torch loads when training starts

    register(DalleTrainer)


@artengine.hookimpl
def register_commands(cli):
    from .bart.command import dalle_bart_random  # click only

    cli.commands["data"].add_command(dalle_bart_random)
