"""The settings of `artengine train vqgan` and their defaults (light: the CLI help reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainSettings:
    """Everything a training run depends on; saved in config.json so `--resume` can continue."""

    data: str | None = None
    steps: int = 3000
    batch_size: int = 8
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    codebook_size: int = 512
    embed_dim: int = 32
    z_channels: int = 64
    ch: int = 32
    ch_mult: list[int] = field(default_factory=lambda: [1, 1, 2, 2])
    num_res_blocks: int = 1
    decoder_norm: str = "group"
    grad_clip: float = 1.0
    image_size: int = 64
    discriminator: bool = False
    disc_start: int = 1000
    disc_weight: float = 0.5
    codebook_update: str = "ema"
    restart_dead_codes: bool = True
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    data_count: int = 10_000


ARCHITECTURE = ("codebook_size", "embed_dim", "z_channels", "ch", "ch_mult", "num_res_blocks", "decoder_norm", "image_size")

EVAL_SEED = 1_000_003
"""Seed of the images `eval vqgan` draws: far from training seeds, so that they are fresh."""
