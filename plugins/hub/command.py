"""`artengine models pull NAME…`, `models ls`, `models rm NAME`: published models in the cache."""

from __future__ import annotations

import click


@click.group(name="models")
def models():
    """Fetch, list and delete published models (`artengine list models` names them)."""


@models.command(name="pull")
@click.argument("names", nargs=-1, required=True)
def pull(names):
    """Download NAMES (e.g. dalle-bart:mega), verify every file, and report where they are."""
    from . import entry_for
    from .fetch import fetch, read_manifest

    entries = {name: entry_for(name) for name in names}  # every name is checked before any download
    for name, entry in entries.items():
        folder = fetch(name, entry, refresh=True)
        files = read_manifest(name)["files"]
        size = sum(record["size"] for record in files.values())
        click.echo(f"{name}: {len(files)} files, {_size(size)}, verified, in {folder}")


@models.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(as_json):
    """What is downloaded: each model's size and folder."""
    import artengine
    import artengine.jobs

    from . import published_models
    from .fetch import cached, model_folder, read_manifest

    rows = []
    for name in sorted(published_models()):
        manifest = read_manifest(name)
        if manifest is None:
            continue
        size = sum(record["size"] for record in manifest["files"].values())
        state = "ready" if cached(name) is not None else "changed since verified (pull it again)"
        rows.append({"name": name, "size": size, "files": len(manifest["files"]), "state": state,
                     "folder": str(model_folder(name))})
    if as_json:
        artengine.jobs.emit_json(rows)
        return
    if not rows:
        click.echo("no published model is downloaded; `artengine list models` names them, "
                   "`artengine models pull NAME` fetches one")
    for row in rows:
        click.echo(f"{row['name']}  {_size(row['size'])}  {row['files']} files  {row['state']}  {row['folder']}")


@models.command(name="rm")
@click.argument("names", nargs=-1, required=True)
def rm(names):
    """Delete the downloaded files of NAMES (files another downloaded model uses are kept)."""
    from . import entry_for, published_models
    from .fetch import read_manifest, remove

    for name in names:
        entry_for(name)
        if read_manifest(name) is None:
            click.echo(f"{name} is not downloaded; nothing to delete")
            continue
        keep = {record["path"]: other for other in published_models() if other != name
                for record in (read_manifest(other) or {}).get("files", {}).values()}
        shared = sorted({keep[r["path"]] for r in read_manifest(name)["files"].values() if r["path"] in keep})
        deleted, freed = remove(name, set(keep))
        kept = f"; kept the files {', '.join(shared)} also uses" if shared else ""
        click.echo(f"{name}: deleted {deleted} files, {_size(freed)} freed{kept}")


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
