"""Constants `train vqgan` and `eval vqgan` share (light: the CLI help reads them)."""

ARCHITECTURE = ("codebook_size", "embed_dim", "z_channels", "ch", "ch_mult", "num_res_blocks", "decoder_norm", "image_size")
"""Options a resumed run cannot change."""

EVAL_SEED = 1_000_003
"""Seed of the images `eval vqgan` draws: far from training seeds, so that they are fresh."""
