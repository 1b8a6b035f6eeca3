"""`artengine eval clip` (`train clip` is built by the engine from train.py's declarations);
torch is imported only when it runs."""

from __future__ import annotations

import click


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
    from artengine.devices import resolve_device
    from artengine.jobs import emit_json

    from .evaluation import EVAL_SEED, evaluate

    if not spec.startswith("clip:"):
        spec = f"clip:{spec}"
    model = artengine.load_model(spec, resolve_device(device), artengine.TextImageEncoder)
    result = evaluate(model, data, n, trials, EVAL_SEED if seed is None else seed)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{spec} on {n} captions of {data} x {trials} trial(s): "
               f"text→image top-1 {result['text_to_image_top1']:.3f}, image→text top-1 {result['image_to_text_top1']:.3f}")
