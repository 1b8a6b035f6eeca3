"""DALL·E Mini and Mega (dalle-mini's BART over VQGAN f16-16384 codes) from min-dalle's files,
sampled by the `dalle` generator: `--set generator.model=dalle-bart:DIR` (docs/dalle.md).

This module stays light; torch loads only inside the sibling modules.
"""

from __future__ import annotations

import artengine
from artengine import ModelInfo, ModelLoader


def _min_dalle(model: str, suffix: str) -> dict[str, str]:
    """The files min-dalle downloads from kuprel/min-dalle (vocab{suffix}.json, …, detoker.pt),
    under the names of its models folder (MODEL/vocab.json, …, vqgan/detoker.pt)."""
    names = (("vocab", "json"), ("merges", "txt"), ("encoder", "pt"), ("decoder", "pt"))
    return {**{f"{model}/{stem}.{ext}": f"{stem}{suffix}.{ext}" for stem, ext in names}, "vqgan/detoker.pt": "detoker.pt"}


# dalle-bart:NAME -> where it is published (plugins/hub fetches and verifies it; docs/models.md).
# Sizes are estimates (fp32 files); the Hub gives the exact ones at download.
PUBLISHED = {
    "mini": {"description": "DALL·E Mini (0.4B parameters), min-dalle's converted weights", "size": "~1.7 GB",
             "licence": "Apache-2.0", "source": "huggingface.co/kuprel/min-dalle",
             "parts": [{"repo": "kuprel/min-dalle", "revision": "main", "files": _min_dalle("dalle_bart_mini", "_mini")}]},
    "mega": {"description": "DALL·E Mega (2.6B parameters), min-dalle's converted weights", "size": "~10 GB",
             "licence": "Apache-2.0", "source": "huggingface.co/kuprel/min-dalle",
             "parts": [{"repo": "kuprel/min-dalle", "revision": "main", "files": _min_dalle("dalle_bart_mega", "")}]},
}


class DalleBartLoader(ModelLoader):
    kind = "dalle-bart"
    description = "DALL·E Mini / Mega (BART encoder-decoder) from min-dalle's folder of converted weights"
    spec_forms = ("dalle-bart:mini, dalle-bart:mega  (published: fetched on first use, `artengine models pull`)",
                  "dalle-bart:DIR  (min-dalle's models folder: dalle_bart_mini/ or dalle_bart_mega/, vqgan/)",
                  "dalle-bart:DIR/dalle_bart_mega  (one model of a folder holding both)")
    published = PUBLISHED

    def available(self) -> list[ModelInfo]:
        return [ModelInfo(f"dalle-bart:{name}", e["description"], {k: e[k] for k in ("size", "licence", "source")})
                for name, e in PUBLISHED.items()]

    def load(self, name: str, device: str):
        from .bundle import load_dalle_bart

        if name in PUBLISHED:  # the folder the hub plugin fetched and verified
            name = str(artengine.load_model(f"hub:dalle-bart:{name}"))

        return load_dalle_bart(name, device)
