"""`artengine data shapes`: write shapes-world image + caption pairs into a folder."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import click

from artengine import UsageError

from .vocabulary import OBJECT_CHOICES

PAIR_FILE = re.compile(r"^\d{5,}\.(png|txt)$")
CAPTIONS = "captions.jsonl"
KIND = "shapes pairs"


@click.command("shapes")
@click.option("--n", "count", type=click.IntRange(min=1), required=True, help="Number of pairs to write.")
@click.option("--out", required=True, type=click.Path(), help="Folder to write into (created if needed).")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed writes the same pairs.")
@click.option("--objects", type=click.Choice(OBJECT_CHOICES), default="mixed", show_default=True,
              help="Objects per image: 1, 2, or mixed.")
@click.option("--omit/--no-omit", default=True, show_default=True,
              help="Let captions leave out the optional phrases (size, position, background).")
def data_shapes(count, out, seed, objects, omit):
    """Write N shapes-world pairs into OUT: NNNNN.png, NNNNN.txt (its caption) and captions.jsonl.

    Refuses a folder that already holds pairs: nothing is ever overwritten."""
    from artengine.jobs import Reporter

    from .dataset import ShapesPairs
    from .world import caption, render

    folder = prepare_folder(Path(out))
    pairs = ShapesPairs(count, seed, objects=objects, omit=omit)
    width = max(5, len(str(count - 1)))
    reporter = Reporter()
    reporter.start("shapes")
    with open_new(folder / CAPTIONS, "w") as index:
        for number in range(count):
            scene = pairs.scene(number)
            image, text = render(scene), caption(scene)
            stem = f"{number:0{width}d}"
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            write_once(folder / f"{stem}.png", buffer.getvalue())
            write_once(folder / f"{stem}.txt", (text + "\n").encode())
            record = {"image": f"{stem}.png", "caption": text} | scene.as_dict() | {"attributes": scene.attributes()}
            index.write(json.dumps(record) + "\n")
            index.flush()
            reporter(number + 1, count)
    reporter.finish()
    click.echo(f"wrote {count} pairs to {folder} (seed {seed}, objects {objects})")


def prepare_folder(folder: Path) -> Path:
    """OUT as this command's own folder (new, empty, or written by it before), not yet holding pairs."""
    from artengine.files import claim_folder

    claim_folder(folder, KIND, "--out")
    taken = sorted(p.name for p in folder.iterdir() if PAIR_FILE.match(p.name) or p.name == CAPTIONS)
    if taken:
        raise UsageError(
            f"--out '{folder}' already holds pairs ({', '.join(taken[:3])}{', ...' if len(taken) > 3 else ''}); "
            "nothing is overwritten: choose a new or empty folder"
        )
    return folder


def open_new(path: Path, mode: str):
    """Open a file that must not exist yet."""
    try:
        return open(path, mode.replace("w", "x"), encoding="utf-8")
    except FileExistsError:
        raise UsageError(f"'{path}' appeared while writing; nothing is overwritten") from None


def write_once(path: Path, data: bytes) -> None:
    """Write `path` whole (through a temporary file) or not at all; never replace a file."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temp.write_bytes(data)
        os.link(temp, path)  # unlike a rename, a link refuses to replace an existing file
    except FileExistsError:
        raise UsageError(f"'{path}' appeared while writing; nothing is overwritten") from None
    except OSError as error:
        raise UsageError(f"cannot write '{path}': {error.strerror or error}") from None
    finally:
        temp.unlink(missing_ok=True)
