"""`artengine rerank DIR PROMPT`: score existing PNGs with a scorer and print them ranked."""

from __future__ import annotations

from pathlib import Path

import click

from . import discovery
from .cli_group import cli
from .config import DEFAULT_SCORER, apply_set
from .devices import resolve_device
from .errors import UsageError
from .images import read_image
from .options import resolve_options
from .progress import emit_json
from .prompts import parse_prompt


@cli.command()
@click.argument("folder", type=click.Path())
@click.argument("prompt")
@click.option("--keep", type=click.IntRange(min=1), help="Show only the best K.")
@click.option("--scorer", "scorer_name", default=DEFAULT_SCORER, show_default=True, help="Scorer to rank with.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A scorer option, e.g. models=[\"clip:shapes\"].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rerank(folder, prompt, keep, scorer_name, sets, device, as_json):
    """Rank the PNG images in FOLDER by how well they match PROMPT (best first)."""
    paths = sorted(Path(folder).glob("*.png")) if Path(folder).is_dir() else None
    if paths is None:
        raise UsageError(f"'{folder}' is not a folder")
    if not paths:
        raise UsageError(f"'{folder}' holds no .png images")
    parsed = parse_prompt(prompt)
    scorer_class = discovery.host.registry.scorer(scorer_name)
    given: dict = {}
    for assignment in sets:
        apply_set(given, assignment)
    scorer = scorer_class(resolve_options(scorer_class.options, given, "--set", "scorer"), resolve_device(device))
    images = [read_image(path, "rerank") for path in paths]
    scores = scorer.score(images, parsed)
    ranked = sorted(zip(paths, scores), key=lambda pair: -pair[1])[: keep or None]
    rows = [{"rank": rank, "path": str(path), "score": float(score)} for rank, (path, score) in enumerate(ranked, 1)]
    if as_json:
        emit_json({"prompt": prompt, "scorer": scorer_name, "images": rows})
        return
    for row in rows:
        click.echo(f"{row['rank']:>3}  {row['score']:.4f}  {row['path']}")
