"""The `artengine train dalle` command: flags -> TrainSettings -> train (imported lazily)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from artengine import UsageError


def parse_loss_weights(text: str) -> tuple[float, float]:
    try:
        text_weight, image_weight = (float(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"--loss-weights {text!r}: write TEXT:IMAGE, e.g. 1:7") from None
    if text_weight < 0 or image_weight <= 0:
        raise UsageError(f"--loss-weights {text!r}: the text weight must be >= 0 and the image weight > 0")
    return text_weight, image_weight


def parse_data_options(assignments) -> dict:
    options = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise UsageError(f"--data-option {assignment!r}: write KEY=VALUE, e.g. objects=mixed")
        options[key.strip()] = {"true": True, "false": False}.get(value.strip().lower(), value.strip())
    return options


@click.command("dalle")
@click.option("--data", required=True, help="Registered dataset (shapes), folder of images + .txt captions, "
              "or WebDataset tar shards (a .tar, a glob, or a folder of .tar files).")
@click.option("--vqgan", help="Image tokenizer spec, e.g. vqgan:shapes (taken from the checkpoint on --resume).")
@click.option("--out", default="runs/dalle", show_default=True, type=click.Path(),
              help="Checkpoint folder; loadable as dalle:OUT.")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in --out.")
@click.option("--steps", default=2000, show_default=True, type=click.IntRange(min=1), help="Optimizer steps in all.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Pairs per micro-batch and process.")
@click.option("--grad-accum", default=1, show_default=True, type=click.IntRange(min=1), help="Micro-batches per optimizer step.")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Peak learning rate.")
@click.option("--warmup", default=100, show_default=True, type=click.IntRange(min=1), help="Warmup steps.")
@click.option("--weight-decay", default=0.01, show_default=True, type=click.FloatRange(min=0))
@click.option("--layers", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--width", default=256, show_default=True, type=click.IntRange(min=8))
@click.option("--heads", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--dropout", default=0.0, show_default=True, type=click.FloatRange(0, 1))
@click.option("--text-length", default=0, show_default=True, type=click.IntRange(min=0),
              help="Text positions; 0 = the longest tokenised caption + 2 (at most 64).")
@click.option("--vocab-size", default=4096, show_default=True, type=click.IntRange(min=16),
              help="Most BPE tokens to learn from the captions.")
@click.option("--loss-weights", default="1:7", show_default=True, help="TEXT:IMAGE weights of the two losses.")
@click.option("--null-caption", default=0.1, show_default=True, type=click.FloatRange(0, 1),
              help="Share of captions blanked, so classifier-free guidance works.")
@click.option("--data-count", type=click.IntRange(min=1), help="Pairs to use.  [default: all; 50000 from a registered dataset]")
@click.option("--data-seed", default=0, show_default=True, type=int, help="Seed of a registered dataset.")
@click.option("--data-option", "data_options", multiple=True, metavar="KEY=VALUE",
              help="Option of a registered dataset, e.g. objects=mixed (repeatable).")
@click.option("--image-size", default=0, show_default=True, type=click.IntRange(min=0),
              help="Side images are squared to; 0 = the first image's.")
@click.option("--cache", type=click.Path(), help="Folder for the code cache.  [default: OUT/codes]")
@click.option("--checkpoint-every", default=500, show_default=True, type=click.IntRange(min=1))
@click.option("--sample-every", default=500, show_default=True, type=click.IntRange(min=0),
              help="Write a sample grid every N steps (0 = never).")
@click.option("--log-every", default=50, show_default=True, type=click.IntRange(min=1),
              help="Print the losses every N steps when stderr is not a terminal.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"]))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=0, show_default=True, type=click.IntRange(min=0), help="CPU threads (0 = torch's default).")
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
              help="Autocast precision: auto = bf16 on CUDA (fp16 on GPUs without bf16), fp32 elsewhere.")
@click.option("--weights-dtype", default="float32", show_default=True, type=click.Choice(["float32", "float16", "bfloat16"]),
              help="Precision of the model.safetensors written for use (checkpoints stay float32).")
def train_dalle(data, vqgan, out, resume, steps, batch_size, grad_accum, lr, warmup, weight_decay, layers, width,
                heads, dropout, text_length, vocab_size, loss_weights, null_caption, data_count, data_seed,
                data_options, image_size, cache, checkpoint_every, sample_every, log_every, device, seed, threads,
                precision, weights_dtype):
    """Train a DALL-E-style transformer on image-caption pairs (runs under torchrun too)."""
    from .train import TrainSettings, train

    settings = TrainSettings(
        data=data, out=Path(out), vqgan=vqgan, data_count=data_count, data_seed=data_seed,
        data_options=parse_data_options(data_options), image_size=image_size, cache=Path(cache) if cache else None,
        steps=steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr, warmup=warmup, weight_decay=weight_decay,
        layers=layers, width=width, heads=heads, dropout=dropout, text_length=text_length, vocab_size=vocab_size,
        loss_weights=parse_loss_weights(loss_weights), null_caption=null_caption, checkpoint_every=checkpoint_every,
        sample_every=sample_every, log_every=log_every, resume=resume, device=device, seed=seed, threads=threads,
        precision=precision, weights_dtype=weights_dtype, command=shlex.join(["artengine", *sys.argv[1:]]),
    )
    train(settings, log=lambda message: click.echo(message, err=True))
