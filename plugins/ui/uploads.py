"""Images sent from the browser: an init image, an image prompt, a PNG to read the settings of.

The page never types a path on the server. It uploads the image (base64 in the JSON body,
within the server's upload size limit); the bytes are checked by the engine's safe image
reader and kept under OUT/uploads/ by their content hash (never overwriting, never outside
--out). A form then names the upload by that id in an image option (`generator.init_image =
"3f2a….png"`, `generator.image_prompts = "3f2a….png:0.5"`), which becomes the stored file's
path; when the job runs, the files it used are copied into its run folder's inputs/ and
listed in run.json under "uploads".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from artengine import UsageError
from artengine.files import read_image, write_new

FOLDER = "uploads"
ID = re.compile(r"^[0-9a-f]{24}\.(png|jpg|webp|gif|bmp|tif)$")
FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


def is_image_option(name: str, type_name: str) -> bool:
    """Options that name images (init_image, image_prompts, unclip's image): uploads in the form."""
    return "image" in name.lower() and type_name in ("str", "list")


def folder_of(root: Path) -> Path:
    """root/uploads, made when missing; refused when something else (a link out of --out) is there."""
    folder = root / FOLDER
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UsageError(f"upload: '{folder}' is not a folder this server made; move it away to upload images")
    folder.mkdir(exist_ok=True)
    return folder


def store(root: Path, data_base64: str) -> dict[str, Any]:
    """Keep the uploaded image (base64) under root/uploads/; returns its id, URL and size."""
    try:
        data = base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("upload: the data is not base64") from None
    if not data:
        raise UsageError("upload: the file is empty")
    folder = folder_of(root)
    temp = folder / f".incoming-{secrets.token_hex(8)}"
    temp.write_bytes(data)  # read back below by the engine's reader: the same checks as a file given on the CLI
    try:
        from PIL import Image

        try:
            image = read_image(temp, "upload")
        except UsageError as error:  # said of the upload, not of a server path
            raise UsageError(str(error).replace(f"image file '{temp}'", "the file").replace(f"'{temp}'", "the file")) from None
        with Image.open(temp) as opened:
            kind = FORMATS.get(opened.format or "")
        if kind is None:
            raise UsageError("upload: not an image format the generators read (PNG, JPEG, WebP, GIF, BMP, TIFF)")
        name = f"{hashlib.sha256(data).hexdigest()[:24]}.{kind}"
        target = folder / name
        if not target.exists():
            os.link(temp, target)  # the same bytes under the same name: an existing one is kept
    finally:
        temp.unlink(missing_ok=True)
    return {"id": name, "url": f"/files/{FOLDER}/{name}", "width": image.width, "height": image.height}


def stored(root: Path, upload_id: str, key: str) -> Path:
    """The stored file of `upload_id`, for the form field `key`; UsageError when there is none."""
    path = root / FOLDER / upload_id
    if not ID.match(upload_id) or (root / FOLDER).is_symlink() or not path.is_file() or path.is_symlink():
        raise UsageError(f"settings: {key}: no uploaded image '{upload_id[:80]}'; upload the image again")
    return path


def resolve_fields(fields: dict[str, str], root: Path) -> tuple[dict[str, str], dict[str, list[Path]]]:
    """`fields` with each image option's upload ids made paths of the stored files, and the
    files each key used. A list option's items are ID or ID:WEIGHT."""
    resolved, used = dict(fields), {}
    for key, value in fields.items():
        if "." not in key or not is_image_option(key.rsplit(".", 1)[1], "str") or not value.strip():
            continue
        items = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            upload_id, sep, weight = item.partition(":")
            path = stored(root, upload_id, key)
            used.setdefault(key, []).append(path)
            items.append(f"{path}{sep}{weight}")
        resolved[key] = ",".join(items)
    return resolved, used


def keep(run, used: dict[str, list[Path]]) -> None:
    """Copy the uploads a run uses into its inputs/ folder and list them in its run.json."""
    if not used:
        return
    (run.dir / "inputs").mkdir(exist_ok=True)
    record = {}
    for key, paths in used.items():
        record[key] = [write_new(run.dir / "inputs" / path.name, path.read_bytes()).relative_to(run.dir).as_posix()
                       for path in paths]
    run.document["uploads"] = record
    run.save()
