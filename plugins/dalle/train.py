"""`artengine train dalle`: cache the codes once, then train the transformer on them.

The engine's loop does the training (checkpoints in OUT/checkpoints, resume, schedule,
precision, several processes); this trainer builds the code cache, the tokenizer and the
model, computes one micro-batch's loss, and keeps OUT a loadable model:

    OUT/{config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
         artengine_dalle.json, README.md}
                                     the latest model, loadable as dalle:OUT and by transformers'
                                     GPT2LMHeadModel.from_pretrained(OUT) (see checkpoint.py)
    OUT/samples/step-NNNNNNNN.png    sample grids
"""

from __future__ import annotations

import time
from pathlib import Path

import artengine
import artengine.files
from artengine import Option, Trainer, UsageError

MAX_TEXT_LENGTH = 64
DTYPES = {"float32": None, "float16": "float16", "bfloat16": "bfloat16"}


class DalleTrainer(Trainer):
    name = "dalle"
    description = "Train a DALL-E-style transformer on image-caption pairs."
    loads_as = "dalle"
    defaults = {"out": "runs/dalle", "steps": 2000, "batch_size": 32, "lr": 1e-3, "warmup": 100,
                "checkpoint_every": 500, "sample_every": 500, "log_every": 50}
    fixed = ("vqgan", "layers", "width", "heads", "text_length", "vocab_size", "image_size")
    options = (
        Option("data", str, "", "Registered dataset (shapes), folder of images + .txt captions, or WebDataset tar "
               "shards (a .tar, a glob, or a folder of .tar files)."),
        Option("vqgan", str, "", "Image tokenizer spec, e.g. vqgan:shapes (kept from the checkpoint on --resume)."),
        Option("weight_decay", float, 0.01, "AdamW weight decay (matrices only).", min=0.0),
        Option("layers", int, 4, "GPT-2 layers.", min=1),
        Option("width", int, 256, "GPT-2 width.", min=8),
        Option("heads", int, 8, "Attention heads.", min=1),
        Option("dropout", float, 0.0, "GPT-2's three dropouts.", min=0.0, max=1.0),
        Option("text_length", int, 0, "Text positions; 0 = the longest tokenised caption + 2 (at most 64).", min=0),
        Option("vocab_size", int, 4096, "Most BPE tokens to learn from the captions.", min=16),
        Option("loss_weights", str, "1:7", "TEXT:IMAGE weights of the two losses."),
        Option("null_caption", float, 0.1, "Share of captions blanked, so classifier-free guidance works.",
               min=0.0, max=1.0),
        Option("data_count", int, 0, "Pairs to use; 0 = all (50000 from a registered dataset).", min=0),
        Option("data_seed", int, 0, "Seed of a registered dataset."),
        Option("data_option", list, [], "Option of a registered dataset, KEY=VALUE, e.g. objects=mixed (repeatable)."),
        Option("image_size", int, 0, "Side images are squared to; 0 = the first image's.", min=0),
        Option("cache", str, "", "Folder for the code cache; empty = OUT/codes."),
        Option("weights_dtype", str, "float32", "Precision of the model.safetensors written for use "
               "(checkpoints stay float32).", choices=("float32", "float16", "bfloat16")),
    )

    def check(self) -> None:
        s = self.settings
        self.loss_weights = parse_loss_weights(s["loss_weights"])
        self.data_options = artengine.parse_data_options(s["data"], s["data_option"])
        if s["width"] % s["heads"]:
            raise UsageError(f"--width {s['width']} must be a multiple of --heads {s['heads']}")
        if not s["data"]:
            raise UsageError("train dalle needs --data (a registered dataset, a folder of pairs or tar shards)")
        if not s["vqgan"] and not self.run.resumed:
            raise UsageError("train dalle needs --vqgan SPEC (e.g. --vqgan vqgan:shapes): the image tokenizer")
        from .cache import claim

        claim(self.cache_folder(), create=False)  # a folder not the trainer's is refused before any work

    def cache_folder(self) -> Path:
        return Path(self.settings["cache"]).expanduser() if self.settings["cache"] else self.run.out / "codes"

    # -- setup ----------------------------------------------------------------------

    def setup(self):
        from .checkpoint import read_config
        from .model import DalleLM

        self.out = self.run.out
        self.previous = read_config(self.out) if self.run.resumed and (self.out / "config.json").is_file() else None
        self.vqgan, self.vqgan_config = self._vqgan()
        self.cache = self._cache()
        self.tokenizer = self._tokenizer()
        self.layout, self.shape, self.batches = self._texts()
        self.lm = DalleLM(self.layout, self.shape).to(self.device)
        parameters = sum(p.numel() for p in self.lm.parameters())
        self.run.log(f"training a {self.shape.layers}-layer GPT-2 ({parameters / 1e6:.2f}M parameters) on "
                     f"{len(self.cache)} images, {self.run.world_size} process(es) on {self.device}")
        return self.lm

    def _vqgan(self):
        from .bundle import load_vqgan_checked
        from .checkpoint import weights_hash

        if self.previous is not None:
            recorded = self.previous["vqgan"]
            return load_vqgan_checked(recorded, str(self.device), f"checkpoint '{self.out}'"), dict(recorded)
        spec = artengine.portable_spec(self.settings["vqgan"])
        vqgan = artengine.load_model(spec, str(self.device), artengine.ImageTokenizer, "--vqgan")
        return vqgan, {"spec": spec, "weights_hash": weights_hash(vqgan), "factor": int(vqgan.factor),
                       "n_codes": int(vqgan.codebook.shape[0])}

    def _cache(self):
        from artengine import get_registry

        from .cache import build_cache, cache_key, claim, open_cache
        from .data import resolve_source

        s, factor = self.settings, self.vqgan_config["factor"]
        folder = claim(self.cache_folder(), create=False)
        source = resolve_source(s["data"], get_registry().names("dataset"))
        count = s["data_count"] or (50_000 if source.kind == "dataset" else None)
        size = s["image_size"] or (self.previous["vqgan"]["image_size"][0] if self.previous else 0)
        if not size:
            side = _first_image_side(source, s["data"], s["data_seed"], self.data_options)
            size = side - side % factor
        if size % factor:
            raise UsageError(f"--image-size {size} is not a multiple of the VQGAN's factor {factor}")
        key = cache_key(source, count, s["data_seed"], self.data_options, size, self.vqgan_config["weights_hash"])
        if self.run.main and open_cache(folder, key) is None:
            self.run.log(f"tokenising the images of {source.name} with {self.vqgan_config['spec']} into {folder} (once)")
            started = time.perf_counter()
            cache = build_cache(folder, key, source, self.vqgan, str(self.device), self.run.log)
            self.run.log(f"cached {len(cache)} images as {cache.rows}x{cache.cols} codes "
                         f"in {time.perf_counter() - started:.0f} s")
        self.run.barrier()  # the others wait for rank 0's cache
        self.vqgan_config["image_size"] = [size, size]
        self.source = source
        return open_cache(folder, key)

    def _tokenizer(self):
        from .text import TOKENIZER_FILE, load_tokenizer, train_tokenizer

        if self.previous is None and self.run.main:
            self.out.mkdir(parents=True, exist_ok=True)
            captions = (caption for captions in self.cache.captions for caption in captions)
            tokenizer = train_tokenizer(captions, self.settings["vocab_size"])
            artengine.files.replace_file(self.out / TOKENIZER_FILE, tokenizer.to_str().encode("utf-8"))
        self.run.barrier()
        return load_tokenizer(self.out)

    def _texts(self):
        import numpy as np

        from .batches import Batches
        from .layout import Layout
        from .model import Shape
        from .text import text_rows

        s = self.settings
        flat = [caption for captions in self.cache.captions for caption in captions]
        if self.previous is not None:
            layout, shape = Layout(**self.previous["layout"]), Shape(**self.previous["model"])
        else:
            longest = max(len(ids) for ids in self.tokenizer.encode_batch(flat, add_special_tokens=False)) if flat else 0
            layout = Layout(self.tokenizer.get_vocab_size(), self.vqgan_config["n_codes"],
                            s["text_length"] or min(longest + 2, MAX_TEXT_LENGTH), self.cache.rows, self.cache.cols)
            shape = Shape(s["layers"], s["width"], s["heads"], s["dropout"])
        if (self.cache.rows, self.cache.cols) != (layout.rows, layout.cols):
            raise UsageError(f"the cached codes are {self.cache.rows}x{self.cache.cols} but the checkpoint "
                             f"expects {layout.rows}x{layout.cols}")
        dtype = np.int16 if layout.text_vocab < 2**15 else np.int32
        text = np.array(text_rows(self.tokenizer, flat, layout.text_length), dtype=dtype)
        null_row = np.array(text_rows(self.tokenizer, [""], layout.text_length)[0])
        return layout, shape, Batches(self.cache, text, null_row, s["null_caption"])

    def optimizer(self, model):
        import torch

        decay = [p for p in model.parameters() if p.dim() >= 2]
        other = [p for p in model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.settings["weight_decay"]},
                  {"params": other, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.settings["lr"], betas=(0.9, 0.95))

    # -- the step -----------------------------------------------------------------------

    def examples(self) -> int:
        return len(self.cache)

    def batch(self, indices, seed):
        return self.batches.get(indices, seed, self.device)

    def loss(self, model, batch):
        from .model import weighted_loss

        text_loss, image_loss = model(*batch)
        loss = weighted_loss(text_loss, image_loss, self.loss_weights)
        return loss, {"text loss": float(text_loss.detach()), "image loss": float(image_loss.detach())}

    # -- outputs ------------------------------------------------------------------------

    def save(self, step, figures):
        from .card import render_card
        from .checkpoint import save_model

        config = self.config(step, figures)
        dtype = DTYPES[self.settings["weights_dtype"]]
        save_model(self.out, self.lm, self.tokenizer, config, render_card(config, f"dalle:{self.out.name}"),
                   None if dtype is None else getattr(__import__("torch"), dtype))

    def config(self, step: int, figures) -> dict:
        from .checkpoint import FORMAT, FORMAT_VERSION

        s = self.settings
        previous = (self.previous or {}).get("card", {})
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "layout": self.layout.as_dict(),
            "model": self.shape.as_dict(),
            "vqgan": self.vqgan_config,
            "training": {
                **self.run.record(step),
                "data": {**self.source.describe(), "images": len(self.cache), "count": s["data_count"] or None,
                         "seed": s["data_seed"], "options": self.data_options},
                "parameters": sum(p.numel() for p in self.lm.parameters()),
                "losses": {"text": round(figures.get("text loss", float("nan")), 4),
                           "image": round(figures.get("image loss", float("nan")), 4)},
            },
            "card": previous,
        }

    def sample(self, step):
        import torch
        from artengine.files import render_grid

        from .generator import to_images
        from .sampling import SamplingSettings, sample_codes
        from .text import text_rows

        captions = [self.cache.captions[i][0] for i in range(min(8, len(self.cache)))]
        null = torch.tensor(text_rows(self.tokenizer, [""], self.layout.text_length), device=self.device)
        self.lm.eval()
        images = []
        for number, caption in enumerate(captions):
            text = torch.tensor(text_rows(self.tokenizer, [caption], self.layout.text_length), device=self.device)
            # eager: a few samples gain nothing from a graph, and a capture beside DDP's threads can fail
            codes = sample_codes(self.lm, text, null, [number], SamplingSettings(guidance=3.0, loop="eager"))
            images += to_images(self.vqgan, codes, self.layout.rows, self.layout.cols)
        self.lm.train()
        grid = render_grid([(f"step {step}", images)], captions, title=str(self.out))
        folder = self.out / "samples"
        folder.mkdir(exist_ok=True)
        grid.save(folder / f"step-{step:08d}.png")


def parse_loss_weights(text: str) -> tuple[float, float]:
    try:
        text_weight, image_weight = (float(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"--loss-weights {text!r}: write TEXT:IMAGE, e.g. 1:7") from None
    if text_weight < 0 or image_weight <= 0:
        raise UsageError(f"--loss-weights {text!r}: the text weight must be >= 0 and the image weight > 0")
    return text_weight, image_weight


def _first_image_side(source, data: str, seed: int, options: dict) -> int:
    from .data import read_pairs

    for image, _ in read_pairs(source, 1, seed, options):
        return min(image.size)
    raise UsageError(f"--data {data!r} gave no image-caption pairs")
