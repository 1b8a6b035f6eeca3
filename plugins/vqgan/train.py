"""`artengine train vqgan`: a VQGAN trained the taming way, without LPIPS (its VGG weights
cannot be fetched offline), on the engine's training loop.

Losses, in taming's [-1, 1] image space: L1 + L2 reconstruction, the quantizer's commitment
term (and its codebook term when codes are trained by gradient), and optionally taming's patch
discriminator (NLayerDiscriminator) with a hinge loss and taming's adaptive weight, switched on
after `disc_start` steps. By default the codes follow the running mean of the encoder outputs
assigned to them, and codes unused for a while move onto encoder outputs (codebook.py).

The engine keeps the checkpoints (OUT/checkpoints, for `--resume`); after each one this
trainer writes OUT as a loadable model (`vqgan:OUT`): config.json (taming's config layout and
the training settings), then model.safetensors (the step in its metadata), each replaced
atomically, so a folder holding weights always holds their config.
"""

from __future__ import annotations

import json
import math

from artengine import Option, Trainer, UsageError
from artengine.files import replace_file

from .settings import ARCHITECTURE

RESTART_EVERY = 50  # steps over which a code must be used once to stay where it is


class VQGANTrainer(Trainer):
    name = "vqgan"
    description = "Train a VQGAN on a dataset ('shapes') or a folder of image + caption pairs."
    loads_as = "vqgan"
    defaults = {"steps": 3000, "batch_size": 8, "lr": 2e-3, "final_lr": 0.05, "checkpoint_every": 500}
    fixed = ARCHITECTURE
    checkpointed = ("usage", "ema", "discriminator", "disc_optimizer")
    options = (
        Option("data", str, "", "A registered dataset (e.g. shapes) or a folder of image + caption pairs."),
        Option("data_count", int, 10_000, "Images drawn from the data.", min=1),
        Option("codebook_size", int, 512, "Number of codes.", min=2, max=1024),
        Option("embed_dim", int, 32, "Size of each code vector.", min=1),
        Option("z_channels", int, 64, "Channels of the encoder output.", min=1),
        Option("ch", int, 32, "Base channel count (a multiple of 32).", min=32),
        Option("ch_mult", str, "1,1,2,2", "Channel multipliers per level; factor = 2^(levels-1)."),
        Option("num_res_blocks", int, 1, "Residual blocks per level.", min=1),
        Option("decoder_norm", str, "group", "taming's GroupNorm in the decoder, or none (suits flat-colour "
               "images such as the shapes world).", choices=("group", "none")),
        Option("image_size", int, 64, "Training images are cropped and resized to this square.", min=8),
        Option("discriminator", bool, False, "Add taming's patch discriminator (hinge loss)."),
        Option("disc_start", int, 1000, "Step after which the discriminator joins.", min=0),
        Option("disc_weight", float, 0.5, "Weight of the adversarial term.", min=0.0),
        Option("codebook_update", str, "ema", "Codes follow the running mean of their encoder outputs, or the "
               "optimizer.", choices=("ema", "gradient")),
        Option("restart_dead_codes", bool, True, "Move unused codes onto encoder outputs."),
    )

    def check(self) -> None:
        if not self.settings["data"]:
            raise UsageError("train vqgan needs --data (a registered dataset such as 'shapes', or a folder of "
                             "image + caption pairs)")
        self.config = model_config(self.settings)

    def setup(self):
        import torch
        from artengine import open_dataset

        from .codebook import EMACodebook
        from .model import VQGAN

        s, device = self.settings, self.run.device
        self.model = VQGAN(self.config).to(device)
        self.ema = None
        if s["codebook_update"] == "ema":
            self.model.codebook.requires_grad_(False)  # moved by EMACodebook, not by the optimizer
            self.ema = EMACodebook(self.model.codebook)
        self.discriminator = self.disc_optimizer = None
        if s["discriminator"]:
            from taming.modules.discriminator.model import NLayerDiscriminator, weights_init

            self.discriminator = NLayerDiscriminator(input_nc=3, ndf=32, n_layers=2).apply(weights_init).to(device)
            self.disc_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=s["lr"], betas=(0.5, 0.9))
        self.pairs = open_dataset(s["data"], s["data_count"], s["seed"])
        if len(self.pairs) == 0:
            raise UsageError(f"--data {s['data']}: no images")
        self.usage = torch.zeros(s["codebook_size"], dtype=torch.long)
        return self.model

    def optimizer(self, model):
        import torch

        # (0.9, 0.99) learns reconstruction faster here than taming's GAN-style (0.5, 0.9),
        # which the discriminator keeps
        trained = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(trained, lr=self.settings["lr"], betas=(0.9, 0.99))

    def examples(self) -> int:
        return len(self.pairs)

    def batch(self, indices, seed):
        from . import images

        return images.batch(self.pairs, indices, self.settings["image_size"]).to(self.run.device)

    def loss(self, model, images):
        reconstruction, quantizer_loss, h, codes = model(images)
        target = images * 2 - 1
        error = reconstruction.float() - target
        rec_loss = error.abs().mean() + error.pow(2).mean()
        loss = rec_loss + quantizer_loss
        self.use_disc = self.discriminator is not None and self.run.step >= self.settings["disc_start"]
        if self.use_disc:
            loss = loss + self._generator_term(reconstruction, rec_loss)
        self.last = (target, reconstruction.detach(), h.detach(), codes)
        mse = ((reconstruction.detach().float().clamp(-1, 1) - target) / 2).pow(2).mean().item()
        return loss, {"loss": float(loss.detach()), "psnr": -10 * math.log10(max(mse, 1e-10))}

    def _generator_term(self, reconstruction, rec_loss):
        """taming's adaptive weight: the GAN gradient scaled to the reconstruction's at the last layer."""
        import torch

        g_loss = -self.discriminator(reconstruction).float().mean()
        last = self.model.decoder.conv_out.weight
        rec_grad = torch.autograd.grad(rec_loss, last, retain_graph=True)[0]
        g_grad = torch.autograd.grad(g_loss, last, retain_graph=True)[0]
        weight = (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0, 1e4).detach()
        return self.settings["disc_weight"] * weight * g_loss

    def after_step(self, step: int) -> None:
        import torch

        target, reconstruction, h, codes = self.last
        figures = {"d": self._discriminator_step(target, reconstruction)} if self.use_disc else {}
        vectors = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        codes = codes.flatten()
        if self.ema is not None:
            self.ema.update(self.model.codebook.data, vectors, codes)
        self.usage += torch.bincount(codes.cpu(), minlength=self.settings["codebook_size"])
        if self.settings["restart_dead_codes"] and step % RESTART_EVERY == 0:
            self._restart_dead_codes(vectors, step)
        return figures

    def _discriminator_step(self, real, fake) -> float:
        import torch.nn.functional as F

        self.discriminator.train()
        with self.run.autocast():
            hinge = 0.5 * (F.relu(1 - self.discriminator(real).float()).mean()
                           + F.relu(1 + self.discriminator(fake).float()).mean())
        self.disc_optimizer.zero_grad(set_to_none=True)
        hinge.backward()
        self.disc_optimizer.step()
        return hinge.item()

    def _restart_dead_codes(self, vectors, step: int) -> None:
        """Codes unused since the last restart move onto random encoder outputs of this batch."""
        import torch

        with torch.no_grad():
            dead = (self.usage == 0).nonzero().flatten()
            if len(dead):
                chance = torch.Generator().manual_seed(self.settings["seed"] * 1_000_003 + step)
                chosen = vectors[torch.randint(len(vectors), (len(dead),), generator=chance).to(vectors.device)]
                if self.ema is not None:
                    self.ema.restart(self.model.codebook.data, dead, chosen)
                else:
                    codebook = self.model.codebook.data
                    codebook[dead.to(codebook.device)] = chosen.to(codebook.dtype)
            self.usage.zero_()

    def save(self, step, figures) -> None:
        from safetensors.torch import save_file

        from .loading import CONFIG_FILE, WEIGHT_FILE

        out = self.run.out
        out.mkdir(parents=True, exist_ok=True)
        weights = {key: value.detach().cpu().contiguous() for key, value in self.model.state_dict().items()}
        config = self.config.to_dict()
        config["training"] = {**self.run.record(step), "data_size": len(self.pairs)}
        replace_file(out / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
        # last: a folder with weights is a loadable model, so the config must be there before them
        replace_file(out / WEIGHT_FILE, lambda path: save_file(weights, str(path), metadata={"step": str(step)}))


def model_config(settings: dict):
    from .config import TAMING_VQ, VARIANT, config_from_dict

    ddconfig = {
        "double_z": False, "z_channels": settings["z_channels"], "resolution": settings["image_size"],
        "in_channels": 3, "out_ch": 3, "ch": settings["ch"], "ch_mult": parse_ch_mult(settings["ch_mult"]),
        "num_res_blocks": settings["num_res_blocks"], "attn_resolutions": [], "dropout": 0.0,
        "decoder_norm": settings["decoder_norm"],
    }
    params = {"n_embed": settings["codebook_size"], "embed_dim": settings["embed_dim"], "ddconfig": ddconfig}
    target = TAMING_VQ if settings["decoder_norm"] == "group" else VARIANT  # taming builds only the first as written
    config = config_from_dict({"model": {"target": target, "params": params}}, "train vqgan")
    if settings["image_size"] % config.factor:
        raise UsageError(f"--image-size {settings['image_size']} must be a multiple of the factor {config.factor} "
                         "(from --ch-mult)")
    return config


def parse_ch_mult(text) -> list[int]:
    try:
        multipliers = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        multipliers = []
    if not multipliers or min(multipliers) < 1:
        raise UsageError(f"--ch-mult {text!r}: give a comma-separated list of integers, one positive multiplier "
                         "per level, e.g. 1,1,2,2")
    return multipliers
