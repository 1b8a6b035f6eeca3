"""DALL·E Mini and Mega (dalle-mini's BART over VQGAN f16-16384 codes) from min-dalle's files,
sampled by the `dalle` generator: `--set generator.model=dalle-bart:DIR` (docs/dalle.md).

This module stays light; torch loads only inside the sibling modules.
"""

from __future__ import annotations

from artengine import ModelLoader


class DalleBartLoader(ModelLoader):
    kind = "dalle-bart"
    description = "DALL·E Mini / Mega (BART encoder-decoder) from min-dalle's folder of converted weights"
    spec_forms = ("dalle-bart:DIR  (min-dalle's models folder: dalle_bart_mini/ or dalle_bart_mega/, vqgan/)",
                  "dalle-bart:DIR/dalle_bart_mega  (one model of a folder holding both)")

    def load(self, name: str, device: str):
        from .bundle import load_dalle_bart

        return load_dalle_bart(name, device)
