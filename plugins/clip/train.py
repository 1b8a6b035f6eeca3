"""`artengine train clip`: a small open_clip CLIP trained with open_clip's contrastive loss,
on the engine's training loop (checkpoints in OUT/checkpoints, resume, schedule, progress).

After each checkpoint the output folder is a loadable model, `clip:OUT`, and plain open_clip loads
it as `open_clip.create_model_and_transforms("local-dir:OUT")` (open_clip's hub layout):
    open_clip_config.json        open_clip config ({'model_cfg', 'preprocess_cfg'}) + how it was trained
    open_clip_model.safetensors  the weights (in --weights-dtype)
each replaced atomically (written beside, then os.replace).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from artengine import Option, Trainer, UsageError, parse_data_options

WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"
ARCHITECTURE = {"width": ("vision_cfg", "width"), "layers": ("vision_cfg", "layers"),
                "patch_size": ("vision_cfg", "patch_size"), "image_size": ("vision_cfg", "image_size"),
                "text_width": ("text_cfg", "width"), "text_layers": ("text_cfg", "layers"),
                "context_length": ("text_cfg", "context_length"), "embed_dim": ("embed_dim",)}


class ClipTrainer(Trainer):
    name = "clip"
    description = "Train a small open_clip CLIP on image-caption pairs with open_clip's ClipLoss."
    loads_as = "clip"
    defaults = {"steps": 1000, "batch_size": 64, "lr": 1e-3, "warmup": 100, "checkpoint_every": 100,
                "grad_clip": 0.0}
    fixed = ("data", "data_count", "data_option", "init", "batch_size", "lr", "weight_decay", "warmup",
             "hard_negatives", "seed", "weights_dtype", *ARCHITECTURE)
    options = (
        Option("data", str, "shapes", "A registered dataset (shapes) or a folder of images with same-named .txt captions."),
        Option("data_count", int, 20000, "Pairs drawn from --data.", min=1),
        Option("data_option", list, [], "Option of a registered dataset, KEY=VALUE, e.g. objects=1 (repeatable)."),
        Option("init", str, "", "Start from this CLIP's weights (fine-tuning): any clip model spec, e.g. clip:shapes "
               "or a folder `train clip` wrote; its architecture is used (architecture options left at their "
               "defaults or equal to it)."),
        Option("weight_decay", float, 0.1, "AdamW weight decay.", min=0.0),
        Option("hard_negatives", int, 4, "Per caption, false captions the dataset offers (one attribute changed, "
               "say) to rank below it.", min=0),
        Option("width", int, 128, "Vision transformer width.", min=8),
        Option("layers", int, 6, "Vision transformer layers.", min=1),
        Option("text_width", int, 64, "Text transformer width.", min=8),
        Option("text_layers", int, 4, "Text transformer layers.", min=1),
        Option("embed_dim", int, 128, "Shared embedding size.", min=2),
        Option("context_length", int, 32, "Text tokens, with start and end.", min=4, max=77),
        Option("patch_size", int, 8, "Vision patch side in pixels.", min=1),
        Option("image_size", int, 64, "Image side the model sees.", min=8),
        Option("weights_dtype", str, "float32", "Precision of open_clip_model.safetensors (checkpoints stay float32).",
               choices=("float32", "float16", "bfloat16")),
    )

    def check(self) -> None:
        s = self.settings
        if s["image_size"] % s["patch_size"]:
            raise UsageError(f"--image-size {s['image_size']} is not a multiple of --patch-size {s['patch_size']}")
        if s["batch_size"] < 2:
            raise UsageError("--batch-size must be at least 2: a contrastive loss compares pairs in a batch")

    def setup(self):
        from artengine import load_dataset
        from open_clip.loss import ClipLoss

        from .batches import BatchMaker
        from .model import build_network, tokenizer_for

        s = self.settings
        if s["init"]:
            start = self.starting_point()
            # a copy: the loaded model is cached and shared, and training changes the weights
            network, self.model_cfg, tokenizer = copy.deepcopy(start.network), start.config["model_cfg"], start.tokenizer
        else:
            self.model_cfg = tiny_model_config(**{key: s[key] for key in ARCHITECTURE})
            network, tokenizer = build_network(self.model_cfg), tokenizer_for(self.model_cfg)
        self.network = network.float().to(self.run.device).train().requires_grad_(True)
        dataset = load_dataset(s["data"], parse_data_options(s["data"], s["data_option"]))
        pairs = dataset.pairs(s["data_count"], s["seed"])
        side = self.model_cfg["vision_cfg"]["image_size"]  # the starting point's, with --init
        size = tuple(side) if isinstance(side, (list, tuple)) else (side, side)
        self.batches = BatchMaker(dataset, pairs, s["batch_size"], size, s["hard_negatives"])
        self.step_loss = LossComputer(self.network, tokenizer, ClipLoss(), self.run.device)
        return self.network

    def starting_point(self):
        """`--init`: the CLIP to fine-tune, as the clip loader loads it; architecture options must agree."""
        from artengine import load_model

        spec = self.settings["init"] if self.settings["init"].startswith("clip:") else f"clip:{self.settings['init']}"
        try:
            start = load_model(spec)
        except UsageError as error:
            raise UsageError(f"--init: {error}") from None
        for option in self.options:  # an architecture option left at its default takes the model's
            path, value = ARCHITECTURE.get(option.name, ()), start.config["model_cfg"]
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if path and self.settings[option.name] not in (option.default, value):
                raise UsageError(f"--{option.name.replace('_', '-')} {self.settings[option.name]}: --init "
                                 f"{self.settings['init']} has {value}; leave it out (fine-tuning keeps the architecture)")
        return start

    def optimizer(self, model):
        """AdamW; as in open_clip, gains, biases and the temperature are not decayed."""
        import torch

        def exempt(name, parameter):
            return parameter.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

        named = list(model.named_parameters())
        groups = [
            {"params": [p for n, p in named if exempt(n, p)], "weight_decay": 0.0},
            {"params": [p for n, p in named if not exempt(n, p)], "weight_decay": self.settings["weight_decay"]},
        ]
        return torch.optim.AdamW(groups, lr=self.settings["lr"], betas=(0.9, 0.98), eps=1e-6)

    def examples(self) -> int:
        return len(self.batches.pairs)

    def batch(self, indices, seed):
        return self.batches.batch(indices, seed)

    def loss(self, model, batch):
        loss = self.step_loss(model, batch)
        return loss, {"loss": float(loss.detach())}

    def after_step(self, step):
        import torch

        with torch.no_grad():  # as open_clip does: keep the temperature within 100
            self.network.logit_scale.clamp_(0, math.log(100))

    def save(self, step, figures):
        from artengine.files import replace_file
        from safetensors.torch import save

        from .model import open_clip_config

        out = self.run.out
        out.mkdir(parents=True, exist_ok=True)
        config = {**open_clip_config(self.network, self.model_cfg), "trained_with": "artengine train clip",
                  "training": self.run.record(step)}
        replace_file(out / CONFIG_FILE, json.dumps(config, indent=2).encode())
        dtype = getattr(__import__("torch"), self.settings["weights_dtype"])
        weights = {name: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
                   for name, value in self.network.state_dict().items()}
        replace_file(out / WEIGHTS_FILE, save(weights, metadata={"step": str(step)}))


class LossComputer:
    """open_clip's ClipLoss on the batch, plus a term that ranks each image's caption above
    its hard negatives (the same caption with one attribute changed)."""

    def __init__(self, network, tokenizer, clip_loss, device):
        import torch

        self.tokenizer, self.clip_loss, self.device = tokenizer, clip_loss, device
        cfg = network.visual.preprocess_cfg
        self.mean = torch.tensor(cfg["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"], device=device).view(1, 3, 1, 1)

    def __call__(self, model, batch):
        import torch
        import torch.nn.functional as F

        count = len(batch.captions)
        most = max((len(n) for n in batch.negatives), default=0)
        texts = batch.captions + [text for negatives in batch.negatives for text in negatives]
        images = (batch.images.to(self.device) - self.mean) / self.std
        outputs = model(images, self.tokenizer(texts).to(self.device))  # normalised features, exp(logit_scale)
        image_features, text_features, scale = outputs[0].float(), outputs[1].float(), outputs[2]
        loss = self.clip_loss(image_features, text_features[:count], scale)
        if most == 0:
            return loss
        negatives = torch.zeros(count, most, text_features.shape[1], device=self.device)
        present = torch.zeros(count, most, dtype=torch.bool, device=self.device)
        position = count
        for row, row_negatives in enumerate(batch.negatives):
            negatives[row, : len(row_negatives)] = text_features[position: position + len(row_negatives)]
            present[row, : len(row_negatives)] = True
            position += len(row_negatives)
        positive = (image_features * text_features[:count]).sum(-1, keepdim=True)
        against = torch.einsum("bd,bkd->bk", image_features, negatives)
        # mask after scaling: -inf times the scale would make the scale's gradient NaN
        logits = (scale * torch.cat([positive, against], dim=1)).masked_fill(
            torch.cat([torch.ones_like(present[:, :1]), present], dim=1).logical_not(), float("-inf"))
        return loss + F.cross_entropy(logits, torch.zeros(count, dtype=torch.long, device=self.device))


def tiny_model_config(image_size=64, patch_size=8, width=128, layers=6, text_width=64, text_layers=4,
                      context_length=32, embed_dim=128, head_width=64) -> dict[str, Any]:
    """An open_clip CLIP config small enough to train on a CPU; the vocabulary is open_clip's own."""
    from open_clip.tokenizer import SimpleTokenizer

    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "patch_size": patch_size, "width": width, "layers": layers,
                       "head_width": min(head_width, width)},
        "text_cfg": {"context_length": context_length, "vocab_size": SimpleTokenizer().vocab_size,
                     "width": text_width, "heads": max(1, text_width // 32), "layers": text_layers},
    }
