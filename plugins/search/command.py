"""`artengine classify`, `artengine index build|update` and `artengine search`: parse, call, print.

torch, open_clip, faiss and pyarrow are imported only when a command runs."""

from __future__ import annotations

from pathlib import Path

import click

from artengine import UsageError

DEVICES = click.Choice(["auto", "cpu", "cuda", "mps"])
SHOWN_SKIPS = 10


def model_spec(spec: str) -> str:
    return spec if spec.startswith("clip:") else f"clip:{spec}"


@click.command("classify")
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--labels", help='Labels separated by commas, e.g. "a cat,a dog,a person".')
@click.option("--labels-file", type=click.Path(), help="A file with one label a line (# comments, blank lines skipped).")
@click.option("--template", "own_templates", multiple=True, metavar="TEXT",
              help="A template for every label, e.g. 'a photo of a {}' (repeatable; the embeddings are averaged).")
@click.option("--templates", "template_set", type=click.Choice(["none", "simple", "openai"]), default="none", show_default=True,
              help="open_clip's template sets: simple (2) or openai (the CLIP paper's 80 ImageNet templates).")
@click.option("--top", type=click.IntRange(1), default=3, show_default=True, help="Labels shown per image.")
@click.option("--model", "spec", default="clip:shapes", show_default=True, help="Any clip: model spec.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Images embedded at once.")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print every label's probability per image as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write every probability to a new CSV file.")
def classify(images, labels, labels_file, own_templates, template_set, top, spec, batch_size, device, as_json, csv_path):
    """Zero-shot classification: the probability of each label for each IMAGE, with CLIP."""
    import artengine
    import artengine.files
    from artengine.jobs import emit_json

    from .classify import label_weights, probabilities, read_labels, templates_for
    from .embed import ImageEncoder
    from .files import shape_problem
    from .index import load_model

    label_list = read_labels(labels, labels_file)
    pictures = [artengine.files.read_image(path, "classify") for path in images]
    for path, picture in zip(images, pictures):
        problem = shape_problem(*picture.size)
        if problem:
            raise UsageError(f"classify: '{path}' is {problem}")
    model = load_model(model_spec(spec), device)
    names = [template_set] if template_set != "none" or not own_templates else []
    templates = templates_for(names, list(own_templates))
    weights = label_weights(model, label_list, templates)
    probs = probabilities(model, ImageEncoder(model, batch_size).encode_images(pictures), weights)
    results = []
    for path, row in zip(images, probs):
        order = row.argsort()[::-1][:top]
        results.append({"path": str(path), "top": [{"label": label_list[i], "probability": round(float(row[i]), 6)} for i in order],
                        "probabilities": {label: round(float(p), 6) for label, p in zip(label_list, row)}})
    if csv_path:
        written = write_csv(Path(csv_path), label_list, images, probs)
        click.echo(f"wrote {written}", err=True)
    if as_json:
        emit_json({"model": model.spec, "labels": label_list, "templates": len(templates), "images": results})
        return
    for result in results:
        click.echo(result["path"])
        for choice in result["top"]:
            click.echo(f"  {choice['probability']:.4f}  {choice['label']}")


def write_csv(path: Path, labels, images, probs) -> Path:
    import csv
    import io

    from artengine.files import write_new

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", *labels])
    for image, row in zip(images, probs):
        writer.writerow([image, *(f"{p:.6f}" for p in row)])
    if not path.parent.is_dir():
        raise UsageError(f"--csv '{path}': folder '{path.parent}' does not exist")
    return write_new(path, buffer.getvalue().encode())


# -- index ---------------------------------------------------------------------------------------


def run_options(function):
    for option in reversed((
        click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Images embedded at once."),
        click.option("--workers", type=click.IntRange(1), default=None, help="Threads decoding images (default: the CPUs, at most 8)."),
        click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto", show_default=True,
                     help="auto: bfloat16 where the device computes it natively (CUDA, CPUs with AVX512-BF16/AMX)."),
        click.option("--device", type=DEVICES, default="auto", show_default=True),
        click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON."),
    )):
        function = option(function)
    return function


@click.group("index")
def index_group():
    """Index folders of images for `artengine search` (CLIP embeddings + table + FAISS)."""


@index_group.command("build")
@click.argument("folders", nargs=-1, required=True, type=click.Path())
@click.option("--model", "spec", default="clip:shapes", show_default=True, help="The clip: model that embeds the images.")
@click.option("--out", type=click.Path(), help="The new index folder (default: the first FOLDER's name + .index beside it).")
@run_options
def index_build(folders, spec, out, batch_size, workers, precision, device, as_json):
    """Embed the images under FOLDERS into a new index (run it again to finish an interrupted build)."""
    from .index import Index

    out = Path(out) if out else Path(folders[0]).expanduser().resolve().with_name(Path(folders[0]).resolve().name + ".index")
    run_job(lambda **kw: Index.build(list(folders), out, model_spec(spec), **kw),
            batch_size, workers, precision, device, as_json)


@index_group.command("update")
@click.argument("index")
@click.argument("folders", nargs=-1, type=click.Path())
@run_options
def index_update(index, folders, batch_size, workers, precision, device, as_json):
    """Embed new and changed files of INDEX's folders (and FOLDERS, added to them); drop deleted ones."""
    from .index import Index

    run_job(lambda **kw: Index.update(index, list(folders), **kw), batch_size, workers, precision, device, as_json)


def run_job(job, batch_size, workers, precision, device, as_json):
    from artengine import warn
    from artengine.jobs import Reporter, emit_json, stop_on_signals

    from .index import EmbedSettings

    reporter = Reporter()
    reporter.start("embedding")
    with stop_on_signals(reporter):
        try:
            index, report = job(settings=EmbedSettings(device, batch_size, workers, precision), progress=reporter,
                                should_stop=lambda: reporter.stop_requested)
        finally:
            reporter.finish()
    if index is None:  # a process other than rank 0 of a `torchrun` job: rank 0 reports
        return
    for item in report.skipped[:SHOWN_SKIPS]:
        warn(f"skipped '{item['path']}': {item['reason']}")
    if len(report.skipped) > SHOWN_SKIPS:
        warn(f"... and {len(report.skipped) - SHOWN_SKIPS} more skipped files (all listed in {index.folder / 'manifest.json'})")
    if as_json:
        emit_json({**report.as_dict(), "model": index.model_spec})
        return
    click.echo(f"indexed {report.count} images in {index.folder} with {index.model_spec} ({report.embedded} embedded, "
               f"{report.kept} kept, {report.resumed} resumed, {report.dropped} dropped, {len(report.skipped)} skipped; "
               f"FAISS {report.faiss}; {report.seconds:.1f} s)")


# -- search --------------------------------------------------------------------------------------


@click.command("search")
@click.argument("index")
@click.argument("text", required=False)
@click.option("--image", type=click.Path(), help="An image to search by (alone, or added to TEXT).")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=20, show_default=True, help="Hits to return.")
@click.option("--where", help='A filter on the table\'s columns, e.g. \'generator = "dalle" and score > 0.3\'.')
@click.option("--model", "spec", help="The index's model (checked: an index is searched only with its own).")
@click.option("--nprobe", type=click.IntRange(1), help="Inverted lists scanned by an approximate index (more: slower, better).")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a new HTML page of thumbnails (offline).")
def search(index, text, image, k, where, spec, nprobe, device, as_json, html_path):
    """Find the images of INDEX that best match TEXT (prompt syntax: weights, negatives) or --image."""
    from artengine.files import write_new
    from artengine.jobs import emit_json

    from .index import Index
    from .page import render_page

    if not text and not image:
        raise UsageError("search: give a TEXT to search for, an --image, or both")
    opened = Index.open(index)
    opened.model(device, model_spec(spec) if spec else None)
    hits = opened.search(text, image, k, where, device, nprobe)
    query = " + ".join(part for part in (text and repr(text), image and f"image {image}") if part)
    if html_path:
        path = Path(html_path)
        if not path.parent.is_dir():
            raise UsageError(f"--html '{path}': folder '{path.parent}' does not exist")
        info = f"{len(opened)} images · {opened.model_spec}{' · where ' + where if where else ''}"
        written = write_new(path, render_page(query, info, hits).encode())
        click.echo(f"wrote {written}", err=True)
    if as_json:
        emit_json({"index": str(opened.folder), "model": opened.model_spec, "text": text, "image": image, "where": where,
                   "hits": [hit.as_dict() for hit in hits]})
        return
    if not hits:
        click.echo("no hits" + (" (the --where filter selects no image)" if where else ""))
    for hit in hits:
        about = hit.row.get("prompt") or hit.row.get("caption") or ""
        click.echo(f"{hit.rank:>3}  {hit.similarity:.4f}  {hit.path}" + (f"  {about}" if about else ""))
