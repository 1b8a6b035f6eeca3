"""Model cards of the shipped models, read without torch for `artengine list models`.

A card (weights/NAME/MODEL_CARD.md) opens with a front-matter block of `key: value` lines
between `---` lines; `description` is the one-line summary, every other key a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class Card:
    description: str
    figures: dict[str, str] = field(default_factory=dict)


def read_card(path: Path) -> Card:
    lines = path.read_text(encoding="utf-8").splitlines()
    values: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        for line in lines[1:]:
            if line.strip() == "---":
                break
            key, sep, value = line.partition(":")
            if sep:
                values[key.strip()] = value.strip()
    description = values.pop("description", "a shipped CLIP model")
    return Card(description, values)


def shipped_cards() -> dict[str, Card]:
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {folder.name: read_card(folder / "MODEL_CARD.md")
            for folder in sorted(WEIGHTS_DIR.iterdir()) if (folder / "MODEL_CARD.md").is_file()}
