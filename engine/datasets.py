"""`open_dataset(spec)`: image-caption pairs by name (a registered dataset) or folder;
`load_dataset(spec)`: the `Dataset` itself, for what else it offers (hard negatives, say);
`parse_data_options(spec, ["KEY=VALUE", ...])`: a trainer's `--data-option` texts, typed.

A folder holds images (png, jpg, jpeg, webp) each with a caption file of the same stem
(`cat.png` + `cat.txt`, one or more caption lines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import discovery
from .errors import UsageError
from .images import read_image
from .interfaces import Dataset
from .options import resolve_options
from .safe_io import read_user_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class FolderPairs(Sequence):
    """Images with same-stem `.txt` captions, sorted by name; images load on access."""

    def __init__(self, folder: Path, count: int | None = None):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.items = [(p, p.with_suffix(".txt")) for p in images if p.with_suffix(".txt").is_file()]
        if not self.items:
            raise UsageError(f"data folder '{folder}' has no images with a same-named .txt caption file")
        if count:
            self.items = self.items[:count]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image_path, caption_path = self.items[index]
        text = read_user_text(caption_path, "data: caption file")  # a FIFO or a device is refused, not read
        captions = [line.strip() for line in text.splitlines() if line.strip()]
        return read_image(image_path, "data"), captions


class FolderDataset(Dataset):
    """A folder of images with same-stem captions, as a `Dataset` (its captions have no grammar)."""

    name = "folder"
    description = "Images with same-named .txt captions."

    def __init__(self, folder: Path):
        super().__init__({}, "cpu")
        self.folder = folder

    def pairs(self, count: int | None, seed: int = 0) -> FolderPairs:
        return FolderPairs(self.folder, count)  # in name order: `seed` has nothing to choose


def open_dataset(spec: str, count: int | None = None, seed: int = 0, options: Mapping[str, Any] | None = None):
    """A registered dataset's pairs (`shapes`), or a folder's (`path/to/pairs`)."""
    dataset = load_dataset(spec, options)
    return dataset.pairs(count if isinstance(dataset, FolderDataset) else count or 10_000, seed)


def load_dataset(spec: str, options: Mapping[str, Any] | None = None) -> Dataset:
    """The dataset `spec` names, with `options`: a registered one (`shapes`) or a folder of pairs."""
    registry = discovery.get_registry()
    if spec in registry.items["dataset"]:
        dataset_class = registry.get("dataset", spec)
        return dataset_class(resolve_options(dataset_class.options, options or {}, f"dataset '{spec}'"), "cpu")
    path = Path(spec)
    if path.is_dir():
        if options:
            raise UsageError(f"--data {spec!r} is a folder, which takes no dataset options ({', '.join(options)})")
        return FolderDataset(path)
    known = ", ".join(registry.names("dataset")) or "none"
    raise UsageError(f"--data {spec!r} is neither a folder nor a registered dataset (available: {known})")


def parse_data_options(spec: str, assignments: Iterable[str]) -> dict[str, Any]:
    """`--data-option KEY=VALUE` texts -> options for the dataset `spec`, each value read as the
    type the dataset declares (left as text where it declares none: `load_dataset` then says
    what is wrong, and a folder or a trainer's own source may take text)."""
    registry = discovery.get_registry()
    registered = spec in registry.items["dataset"]
    declared = {option.name: option.type for option in registry.get("dataset", spec).options} if registered else {}
    options: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = (part.strip() for part in assignment.partition("="))
        if not sep or not key:
            raise UsageError(f"--data-option {assignment!r}: write KEY=VALUE, e.g. objects=1")
        kind = declared.get(key, str)
        try:
            options[key] = (kind(value) if kind in (int, float)
                            else {"true": True, "false": False}.get(value.lower(), value) if kind is bool else value)
        except ValueError:
            raise UsageError(f"--data-option {assignment!r}: {key} takes a number") from None
    return options
