"""`artengine train clip` and `artengine eval clip`; torch is imported only when they run."""

from __future__ import annotations

from pathlib import Path

import click

from artengine import UsageError

# Settings a resumed run takes from its checkpoint (architecture flags: where in model_cfg).
FIXED_ON_RESUME = ("data", "data_count", "batch_size", "lr", "weight_decay", "warmup", "hard_negatives", "seed",
                   "weights_dtype")
ARCHITECTURE = {"width": ("vision_cfg", "width"), "layers": ("vision_cfg", "layers"),
                "patch_size": ("vision_cfg", "patch_size"), "image_size": ("vision_cfg", "image_size"),
                "text_width": ("text_cfg", "width"), "text_layers": ("text_cfg", "layers"),
                "context_length": ("text_cfg", "context_length"), "embed_dim": ("embed_dim",)}


@click.command("clip")
@click.option("--data", default="shapes", show_default=True,
              help="A registered dataset (shapes) or a folder of images with same-named .txt captions.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for checkpoints; load it as clip:OUT.")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(1), help="Optimiser steps in all.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(2), help="Image-caption pairs per step.")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True), help="Peak learning rate.")
@click.option("--weight-decay", default=0.1, show_default=True, type=click.FloatRange(0), help="AdamW weight decay.")
@click.option("--warmup", default=100, show_default=True, type=click.IntRange(0), help="Warm-up steps (at most a tenth of --steps).")
@click.option("--hard-negatives", default=4, show_default=True, type=click.IntRange(0),
              help="Per shapes-world caption, captions with one attribute changed to rank below it.")
@click.option("--width", default=128, show_default=True, type=click.IntRange(8), help="Vision transformer width.")
@click.option("--layers", default=6, show_default=True, type=click.IntRange(1), help="Vision transformer layers.")
@click.option("--text-width", default=64, show_default=True, type=click.IntRange(8), help="Text transformer width.")
@click.option("--text-layers", default=4, show_default=True, type=click.IntRange(1), help="Text transformer layers.")
@click.option("--embed-dim", default=128, show_default=True, type=click.IntRange(2), help="Shared embedding size.")
@click.option("--context-length", default=32, show_default=True, type=click.IntRange(4, 77), help="Text tokens, with start and end.")
@click.option("--patch-size", default=8, show_default=True, type=click.IntRange(1), help="Vision patch side in pixels.")
@click.option("--image-size", default=64, show_default=True, type=click.IntRange(8), help="Image side the model sees.")
@click.option("--checkpoint-every", default=100, show_default=True, type=click.IntRange(1), help="Write a checkpoint every N steps.")
@click.option("--resume", is_flag=True, help="Continue the run saved in --out (its settings; --steps may grow).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the initial weights, the data and the batches.")
@click.option("--data-count", default=20000, show_default=True, type=click.IntRange(1), help="Pairs drawn from --data.")
@click.option("--weights-dtype", default="float32", show_default=True, type=click.Choice(["float32", "float16", "bfloat16"]),
              help="Precision of open_clip_model.safetensors (the training state stays float32).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"]),
              help="auto: CUDA (with bf16 autocast) when present, else the CPU.")
@click.option("--threads", default=None, type=click.IntRange(1), help="CPU threads for torch (default: torch's choice).")
@click.pass_context
def train_clip(ctx, out, device, resume, threads, **given):
    """Train a small open_clip CLIP on image-caption pairs with open_clip's ClipLoss."""
    from artengine.devices import resolve_device
    from artengine.progress import Reporter, stop_on_signals

    from .training import TrainSettings, tiny_model_config, train

    if resume:
        check_resume_flags(ctx, Path(out), given)
    architecture = {key: given.pop(key) for key in ("width", "layers", "text_width", "text_layers", "embed_dim",
                                                    "context_length", "patch_size", "image_size")}
    if architecture["image_size"] % architecture["patch_size"]:
        raise UsageError(f"--image-size {architecture['image_size']} is not a multiple of --patch-size {architecture['patch_size']}")
    settings = TrainSettings(model_cfg=tiny_model_config(**architecture), **given)
    reporter = Reporter()
    with stop_on_signals(reporter):
        summary = train(settings, Path(out), resolve_device(device), resume, threads,
                        should_stop=lambda: reporter.stop_requested)
    loss = f"{summary['loss']:.4f}" if summary["loss"] is not None else "n/a"
    click.echo(f"trained clip to step {summary['steps']} (loss {loss}, {summary['wall_time_s']} s on {summary['device']}); "
               f"load it as clip:{out}")


@click.command("clip")
@click.argument("spec")
@click.option("--n", default=64, show_default=True, type=click.IntRange(2), help="Captions and images per trial.")
@click.option("--trials", default=1, show_default=True, type=click.IntRange(1), help="Trials on fresh samples, averaged.")
@click.option("--data", default="shapes", show_default=True, help="A registered dataset or a folder of image-caption pairs.")
@click.option("--seed", default=None, type=int, help="Seed of the first trial's samples (default: 1000000, unseen in training).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"]))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def eval_clip(spec, n, trials, data, seed, device, as_json):
    """Text→image and image→text top-1 retrieval of a CLIP model among N captions and their images."""
    import artengine
    from artengine.cli import emit_json
    from artengine.devices import resolve_device

    from .evaluation import EVAL_SEED, evaluate

    if not spec.startswith("clip:"):
        spec = f"clip:{spec}"
    model = artengine.load_model(spec, resolve_device(device))
    result = evaluate(model, data, n, trials, EVAL_SEED if seed is None else seed)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{spec} on {n} captions of {data} x {trials} trial(s): "
               f"text→image top-1 {result['text_to_image_top1']:.3f}, image→text top-1 {result['image_to_text_top1']:.3f}")


def check_resume_flags(ctx, out: Path, given: dict) -> None:
    """A resumed run keeps its saved settings: a flag given with another value is a mistake."""
    from .training import saved_settings

    saved = saved_settings(out)
    differing = []
    for name in (*FIXED_ON_RESUME, *ARCHITECTURE):
        if ctx.get_parameter_source(name) != click.core.ParameterSource.COMMANDLINE:
            continue
        if name in ARCHITECTURE:
            value = saved["model_cfg"]
            for key in ARCHITECTURE[name]:
                value = value.get(key) if isinstance(value, dict) else None
        else:
            value = saved.get(name)
        if str(value) != str(given[name]):
            differing.append(f"--{name.replace('_', '-')} (saved: {value})")
    if differing:
        raise UsageError(f"--resume continues with the run's saved settings; drop {', '.join(differing)} "
                         "(only --steps, --checkpoint-every, --device and --threads may change)")
