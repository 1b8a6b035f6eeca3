"""`artengine eval vqgan`: parse flags, call evaluation.py (`train vqgan` is built by the engine
from the trainer's declarations in train.py)."""

from __future__ import annotations

import json

import click

from .settings import EVAL_SEED


def eval_command(spec, data, n, seed, device, size, as_json):
    """Measure how well VQGAN SPEC reconstructs N fresh images (PSNR in dB)."""
    from artengine.devices import resolve_device

    from .evaluation import evaluate

    if not spec.startswith("vqgan:"):
        spec = f"vqgan:{spec}"
    figures = evaluate(spec, data, n, seed, resolve_device(device), size)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(
        f"{figures['model']} on {figures['images']} {figures['data']} images (seed {figures['seed']}): "
        f"PSNR {figures['psnr_mean']} dB per image (overall {figures['psnr_overall']}, min {figures['psnr_min']}, "
        f"5th percentile {figures['psnr_p05']}); codes used {figures['codes_used']}/{figures['codebook_size']}"
    )


def add_commands(cli: click.Group) -> None:
    evaluate = eval_command
    for option in reversed([
        click.argument("spec"),
        click.option("--data", default="shapes", show_default=True, help="Dataset or folder of image + caption pairs."),
        click.option("--n", "n", default=1000, show_default=True, type=click.IntRange(1), help="Number of images."),
        click.option("--seed", default=EVAL_SEED, show_default=True, type=int, help="Seed of the fresh images."),
        click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), show_default=True),
        click.option("--size", default=64, show_default=True, type=click.IntRange(8), help="Image side in pixels."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]):
        evaluate = option(evaluate)
    cli.commands["eval"].command("vqgan")(evaluate)

