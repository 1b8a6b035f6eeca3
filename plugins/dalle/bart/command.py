"""`artengine data dalle-bart-random`: a min-dalle folder with random weights (random_folder.py)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("dalle-bart-random")
@click.argument("out", type=click.Path())
@click.option("--size", type=click.Choice(["tiny", "mini", "mega"]), default="tiny", show_default=True,
              help="tiny: 2 layers x 128 (a few seconds per batch on a CPU); mini and mega: DALL·E Mini's and "
                   "Mega's sizes (about 1.7 GB and 11 GB of files).")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed writes the same weights.")
@click.option("--no-image-encoder", is_flag=True, help="Leave out vqgan/encoder.pt (min-dalle has none; "
              "without it, priming from an init image is refused).")
def dalle_bart_random(out, size, seed, no_image_encoder):
    """Write a folder in min-dalle's layout, with random weights, into OUT.

    Then: artengine generate "an avocado armchair" -g dalle --set generator.model=dalle-bart:OUT.
    The images are noise; the folder lets the whole flow run offline."""
    from .random_folder import write_random_folder

    model = write_random_folder(Path(out), size, seed, image_encoder=not no_image_encoder)
    click.echo(f"wrote {model} and {Path(out) / 'vqgan'}; use --set generator.model=dalle-bart:{out}")
