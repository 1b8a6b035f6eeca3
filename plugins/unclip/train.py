"""`artengine train unclip`: a CLIP prior and a latent diffusion decoder, trained together.

The engine's loop does the training (checkpoints in OUT/checkpoints, `--resume`, schedule,
precision, several processes); this trainer caches what it learns from once (cache.py), builds
the two diffusers networks, computes one batch's loss and keeps OUT a loadable model,
`unclip:OUT`, in diffusers' folder layout (components.py):

    OUT/{model_index.json, prior/, prior_scheduler/, unet/, scheduler/,
         artengine_unclip.json, README.md}
    OUT/samples/step-NNNNNNNN.png    sample grids
"""

from __future__ import annotations

from pathlib import Path

import artengine
from artengine import Option, Trainer, UsageError


class UnclipTrainer(Trainer):
    name = "unclip"
    description = "Train a DALL·E 2-style model: a CLIP prior and a diffusion decoder over VQGAN latents."
    loads_as = "unclip"
    defaults = {"out": "runs/unclip", "steps": 20000, "batch_size": 64, "lr": 5e-4, "warmup": 500,
                "final_lr": 0.05, "checkpoint_every": 1000, "sample_every": 2000, "log_every": 100}
    checkpointed = ("ema",)
    fixed = ("clip", "vqgan", "width", "layers", "prior_layers", "prior_heads", "captions", "data", "data_count",
             "data_seed")
    options = (
        Option("data", str, "shapes", "Registered dataset (shapes) or a folder of image + caption pairs."),
        Option("data_count", int, 50_000, "Pairs to learn from.", min=1),
        Option("data_seed", int, 0, "Seed of a registered dataset."),
        Option("clip", str, "clip:shapes", "The CLIP whose embeddings the prior maps and the decoder reads."),
        Option("vqgan", str, "vqgan:shapes", "The VQGAN whose latent space the decoder draws in."),
        Option("width", int, 64, "Channels of the decoder UNet's first level (the second has twice as many).",
               min=16),
        Option("layers", int, 2, "ResNet blocks per UNet level.", min=1),
        Option("prior_layers", int, 4, "Transformer layers of the prior.", min=1),
        Option("prior_heads", int, 4, "Attention heads of the prior (32 channels each).", min=1),
        Option("captions", bool, True, "The prior and the decoder read the caption's CLIP token states beside "
               "the text and image embeddings, as DALL·E 2's do (off: the embeddings alone, as Kandinsky 2.2's)."),
        Option("init", str, "", "Start from this unclip model's weights (e.g. unclip:shapes); tensors whose shape "
               "differs (a network that now reads captions) start fresh."),
        Option("parts", str, "both", "The networks that learn: both, or only the prior or the decoder (the other "
               "kept as --init has it).", choices=("both", "prior", "decoder")),
        Option("drop_condition", float, 0.1, "Share of the batch trained without its condition (text for the "
               "prior, image embedding and caption for the decoder), so classifier-free guidance works.",
               min=0.0, max=1.0),
        Option("drop_caption", float, 0.3, "Of the rest, the share whose decoder sees the image embedding without "
               "the caption, so that it also draws from an image alone (variations).", min=0.0, max=1.0),
        Option("prior_weight", float, 1.0, "Weight of the prior's loss beside the decoder's.", min=0.0),
        Option("weight_decay", float, 0.01, "AdamW weight decay.", min=0.0),
        Option("ema_decay", float, 0.999, "Decay of the moving average of the weights that sampling and the "
               "written model use (0: the last step's weights).", min=0.0, max=0.99999),
        Option("weights_dtype", str, "float32", "Precision of the networks' weights written for use (checkpoints "
               "stay float32).", choices=("float32", "float16", "bfloat16")),
    )

    def check(self) -> None:
        if not self.settings["data"]:
            raise UsageError("train unclip needs --data (a registered dataset such as 'shapes', or a folder of "
                             "image + caption pairs)")
        init = self.settings["init"]
        if ":" in init.split("/")[0] and not init.startswith("unclip:"):
            raise UsageError(f"--init {init}: give an unclip model to start from (unclip:shapes or unclip:FOLDER)")
        parts = self.settings["parts"]
        if parts != "both" and not init:
            other = "decoder" if parts == "prior" else "prior"
            raise UsageError(f"--parts {parts} trains the {parts} alone: give --init unclip:MODEL, whose {other} it keeps")

    # -- setup ----------------------------------------------------------------------

    def setup(self):
        import torch

        from .components import build_prior, build_unet
        from .conditions import caption_length
        from .training_model import UnclipPair

        s, device = self.settings, self.run.device
        self.out = self.run.out
        start = self._starting_point() if s["init"] else None  # before any work: a bad --init is one line
        self.clip = self._load(s["clip"], artengine.CaptionEncoder if s["captions"] else artengine.TextImageEncoder,
                               "--clip")
        self.vqgan = self._load(s["vqgan"], artengine.ImageTokenizer, "--vqgan")
        self.cache = self._cache()
        with torch.no_grad():
            latents = self._embed(torch.from_numpy(self.cache.codes[: min(len(self.cache), 20_000)]).long())
            self.latent_mean = latents.mean((0, 2, 3))
            self.latent_std = latents.std((0, 2, 3)).clamp_min(1e-4)
        channels, side = latents.shape[1], latents.shape[2]
        dim = self.cache.image.shape[1]
        prior = build_prior(dim, s["prior_layers"], s["prior_heads"], caption_length(self.clip) if s["captions"] else 0)
        with torch.no_grad():  # the prior standardises embeddings with its own clip_mean / clip_std
            image = torch.from_numpy(self.cache.image).float() * dim**0.5
            prior.clip_mean.copy_(image.mean(0, keepdim=True))
            prior.clip_std.copy_(image.std(0, keepdim=True).clamp_min(1e-4))
        unet = build_unet(channels, side, dim, s["width"], s["layers"], s["captions"])
        self.model = UnclipPair(prior, unet, s["parts"]).to(device)
        if start is not None:
            self._copy_from(start)
        self.ema = None
        if s["ema_decay"]:
            # diffusion samples from an average of the late weights are cleaner than the last
            # step's, and a run stopped while the learning rate is still high keeps a usable model
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(self.model.parameters(), decay=s["ema_decay"])
        self.latent_mean, self.latent_std = self.latent_mean.to(device), self.latent_std.to(device)
        self.run.log(f"training a prior ({_millions(prior)}M) and a decoder UNet ({_millions(unet)}M) on "
                     f"{len(self.cache)} images' {channels}x{side}x{side} latents, {self.run.world_size} process(es)")
        return self.model

    def _starting_point(self):
        spec = self.settings["init"]
        try:
            start = self._load(spec if spec.startswith("unclip:") else f"unclip:{spec}", artengine.LatentDenoiser,
                               "--init")
        except UsageError as error:
            raise UsageError(f"--init: {error}") from None
        if not (hasattr(start, "prior") and hasattr(start, "unet")):
            raise UsageError(f"--init {spec}: give a model `artengine train unclip` wrote (unclip:shapes, unclip:FOLDER)")
        return start

    def _copy_from(self, start) -> None:
        """--init: copy every tensor of that model whose name and shape fit ours."""
        theirs = {f"{part}.{name}": value for part in ("prior", "unet")
                  for name, value in getattr(start, part).state_dict().items()}
        ours = self.model.state_dict()
        fitting = {name: theirs[name].float() for name, value in ours.items()
                   if name in theirs and theirs[name].shape == value.shape}
        self.model.load_state_dict(fitting, strict=False)
        self.run.log(f"started from {self.settings['init']}: {len(fitting)} of {len(ours)} tensors copied, "
                     "the rest start fresh")

    def _load(self, spec: str, protocol, flag: str):
        return artengine.load_model(artengine.portable_spec(spec), str(self.run.device), protocol, flag)

    def _cache(self):
        from .cache import build_cache, open_cache

        s = self.settings
        key = {"data": s["data"], "count": s["data_count"], "seed": s["data_seed"],
               "clip": artengine.portable_spec(s["clip"]), "vqgan": artengine.portable_spec(s["vqgan"])}
        folder = self.out / "cache"
        if self.run.main and open_cache(folder, key) is None:
            self.run.log(f"encoding {s['data_count']} images of {s['data']} with {s['vqgan']} and {s['clip']} "
                         f"into {folder} (once)")
            pairs = artengine.open_dataset(s["data"], s["data_count"], s["data_seed"])
            build_cache(folder, key, pairs, self.vqgan, self.clip, self.run.log)
        self.run.barrier()
        return open_cache(folder, key)

    def _embed(self, codes):
        """Latents B x C x h x w of codes B x h*w."""
        rows, cols = self.cache.grid
        return self.vqgan.embed(codes.view(-1, rows, cols).to(self.vqgan.codebook.device)).float()

    def optimizer(self, model):
        import torch

        parameters = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(parameters, lr=self.settings["lr"], weight_decay=self.settings["weight_decay"])

    # -- the step -----------------------------------------------------------------------

    def examples(self) -> int:
        return len(self.cache)

    def batch(self, indices, seed):
        import torch

        device, cache = self.run.device, self.cache
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            latents = self._embed(torch.from_numpy(cache.codes[indices]).long()).to(device)
            latents = (latents - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]
        keep = (torch.rand(2, len(indices), generator=generator) >= self.settings["drop_condition"]).float()
        keep_caption = keep[1] * (torch.rand(len(indices), generator=generator) >= self.settings["drop_caption"])
        image = torch.from_numpy(cache.image[indices]).float()
        text = torch.from_numpy(cache.text[indices]).float()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        states = None
        if self.settings["captions"]:  # the frozen CLIP's token states, a small text tower: cheaper than caching
            from .conditions import encode_captions

            states = encode_captions(self.clip.encode_text_tokens, [cache.captions[i] for i in indices]).to(device)
            keep_caption = keep_caption.float().to(device)
        return (latents, image.to(device), text.to(device), keep[0].to(device), keep[1].to(device), seed,
                states, keep_caption)

    def after_step(self, step):
        if self.ema is not None:
            self.ema.step(self.model.parameters())

    def _averaged(self):
        """The pair with the EMA's weights (a copy), or the trained pair itself without one."""
        import copy

        if self.ema is None:
            return self.model
        pair = copy.deepcopy(self.model)
        self.ema.copy_to(pair.parameters())
        return pair

    def loss(self, model, batch):
        losses = model(*batch)
        weights = {"prior": self.settings["prior_weight"], "decoder": 1.0}
        loss = sum(weights[name] * value for name, value in losses.items())
        return loss, {f"{name} loss": float(value.detach()) for name, value in losses.items()}

    # -- outputs ------------------------------------------------------------------------

    def save(self, step, figures):
        from .card import render_card
        from .components import decoder_scheduler, prior_scheduler, save_folder

        import copy

        import torch

        config = self.config(step, figures)
        dtype = getattr(torch, self.settings["weights_dtype"])
        pair = self._averaged()
        prior, unet = pair.prior, pair.unet
        if dtype != torch.float32:  # a cast copy: the model in training stays float32
            # nn.Module's own cast: diffusers' override warns about modules kept in float32, and these have none
            prior, unet = (torch.nn.Module.to(copy.deepcopy(part), dtype) for part in (prior, unet))
        parts = {"prior": prior, "prior_scheduler": prior_scheduler(), "unet": unet, "scheduler": decoder_scheduler()}
        save_folder(self.out, parts, config, render_card(config, f"unclip:{self.out.name}"))

    def config(self, step, figures) -> dict:
        from .components import FORMAT, FORMAT_VERSION

        s = self.settings
        previous = _read_previous(self.out)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "clip": artengine.portable_spec(s["clip"]),
            "vqgan": artengine.portable_spec(s["vqgan"]),
            "captions": s["captions"],
            "latents": {"grid": list(self.cache.grid), "mean": self.latent_mean.tolist(), "std": self.latent_std.tolist()},
            "image_size": [int(self.cache.grid[1] * self.vqgan.factor), int(self.cache.grid[0] * self.vqgan.factor)],
            "training": {
                **self.run.record(step),
                "data": {"spec": s["data"], "images": len(self.cache), "seed": s["data_seed"]},
                "parameters": {"prior": sum(p.numel() for p in self.model.prior.parameters()),
                               "unet": sum(p.numel() for p in self.model.unet.parameters())},
                "losses": {name: round(figures[f"{name} loss"], 4) for name in ("prior", "decoder")
                           if f"{name} loss" in figures},
            },
            "card": previous.get("card", {}),
        }

    def sample(self, step):
        from artengine.files import render_grid

        from .pipeline import ShapesUnclip

        captions = self.cache.captions[:8]
        pair = self._averaged()
        pair.eval()
        model = ShapesUnclip(pair.prior, pair.unet, self.clip, self.vqgan,
                             self.latent_mean, self.latent_std, self.run.device)
        images = [model.draw(caption, seeds=[number])[0] for number, caption in enumerate(captions)]
        pair.train()
        folder = self.out / "samples"
        folder.mkdir(exist_ok=True)
        render_grid([(f"step {step}", images)], captions, title=str(self.out)).save(folder / f"step-{step:08d}.png")


def _millions(module) -> str:
    return f"{sum(p.numel() for p in module.parameters()) / 1e6:.2f}"


def _read_previous(out: Path) -> dict:
    import json

    from .components import CONFIG_FILE

    try:
        return json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
