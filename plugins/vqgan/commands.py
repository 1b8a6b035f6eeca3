"""`artengine train vqgan` and `artengine eval vqgan`: parse flags, call train.py / eval.py.

Options default to None here so that training can tell what the user set from what it
inherits (the defaults, or a checkpoint's settings under --resume).
"""

from __future__ import annotations

import json

import click

from .settings import EVAL_SEED, TrainSettings

DEFAULTS = TrainSettings()


def _ch_mult(ctx, param, value):
    if value is None:
        return None
    try:
        multipliers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers, e.g. 1,1,2,2") from None
    if not multipliers or min(multipliers) < 1:
        raise click.BadParameter("give one positive multiplier per level, e.g. 1,1,2,2")
    return multipliers


def _default(name: str) -> str:
    value = getattr(DEFAULTS, name)
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def train_command(**flags):
    """Train a VQGAN on a dataset ('shapes') or a folder of image + caption pairs.

    Writes a model folder that loads as vqgan:DIR, checkpointed every --checkpoint-every steps;
    --resume continues from the last checkpoint with the saved settings (flags given override them).
    """
    from .train import train

    out, resume, threads = flags.pop("out"), flags.pop("resume"), flags.pop("threads")
    summary = train(out, flags, resume, threads=threads)
    click.echo(f"trained to step {summary['step']} ({summary['seconds']} s); load it as vqgan:{summary['out']}")


TRAIN_OPTIONS = [
    click.option("--data", help="A registered dataset (e.g. shapes) or a folder of image + caption pairs."),
    click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the model and its checkpoints."),
    click.option("--steps", type=click.IntRange(1), help=f"Total optimisation steps.  [default: {_default('steps')}]"),
    click.option("--batch-size", type=click.IntRange(1), help=f"Images per step.  [default: {_default('batch_size')}]"),
    click.option("--lr", type=click.FloatRange(0, min_open=True), help=f"Peak learning rate (Adam).  [default: {_default('lr')}]"),
    click.option("--lr-schedule", type=click.Choice(["cosine", "constant"]), help=f"After a short warm-up.  [default: {_default('lr_schedule')}]"),
    click.option("--codebook-size", type=click.IntRange(2, 1024), help=f"Number of codes.  [default: {_default('codebook_size')}]"),
    click.option("--embed-dim", type=click.IntRange(1), help=f"Size of each code vector.  [default: {_default('embed_dim')}]"),
    click.option("--z-channels", type=click.IntRange(1), help=f"Channels of the encoder output.  [default: {_default('z_channels')}]"),
    click.option("--ch", type=click.IntRange(32), help=f"Base channel count (a multiple of 32).  [default: {_default('ch')}]"),
    click.option("--ch-mult", callback=_ch_mult, help=f"Channel multipliers per level; factor = 2^(levels-1).  [default: {_default('ch_mult')}]"),
    click.option("--num-res-blocks", type=click.IntRange(1), help=f"Residual blocks per level.  [default: {_default('num_res_blocks')}]"),
    click.option("--decoder-norm", type=click.Choice(["group", "none"]), help="taming's GroupNorm in the decoder, or none (suits flat-colour images such as the shapes world).  [default: group]"),
    click.option("--grad-clip", type=click.FloatRange(0), help=f"Clip the gradient norm at this value (0: off).  [default: {_default('grad_clip')}]"),
    click.option("--image-size", type=click.IntRange(8), help=f"Training images are cropped and resized to this square.  [default: {_default('image_size')}]"),
    click.option("--discriminator/--no-discriminator", default=None, help="Add taming's patch discriminator (hinge loss).  [default: off]"),
    click.option("--disc-start", type=click.IntRange(0), help=f"Step after which the discriminator joins.  [default: {_default('disc_start')}]"),
    click.option("--disc-weight", type=click.FloatRange(0), help=f"Weight of the adversarial term.  [default: {_default('disc_weight')}]"),
    click.option("--codebook-update", type=click.Choice(["ema", "gradient"]), help="Codes follow the running mean of their encoder outputs, or the optimizer.  [default: ema]"),
    click.option("--restart-dead-codes/--no-restart-dead-codes", default=None, help="Move unused codes onto encoder outputs.  [default: on]"),
    click.option("--checkpoint-every", type=click.IntRange(0), help=f"Save every N steps (0: only at the end).  [default: {_default('checkpoint_every')}]"),
    click.option("--resume", is_flag=True, help="Continue the run saved in --out."),
    click.option("--seed", type=int, help=f"Seeds the model, the data and the batches.  [default: {_default('seed')}]"),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="auto: CUDA when present, else the CPU.  [default: auto]"),
    click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), help="bf16 autocast; auto: on CUDA only.  [default: auto]"),
    click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch (1 on a busy machine).  [default: PyTorch's]"),
    click.option("--data-count", type=click.IntRange(1), help=f"Images drawn from the data.  [default: {_default('data_count')}]"),
]


def eval_command(spec, data, n, seed, device, size, as_json):
    """Measure how well VQGAN SPEC reconstructs N fresh images (PSNR in dB)."""
    from artengine.devices import resolve_device

    from .eval import evaluate

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
    train = train_command
    for option in reversed(TRAIN_OPTIONS):
        train = option(train)
    cli.commands["train"].command("vqgan")(train)

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

