"""`diffusers:DIR`: a local text-to-image folder through AutoPipelineForText2Image, offline and
from safetensors only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from artengine import UsageError

from .folders import check_components, quiet_loading


@dataclass
class LoadedPipeline:
    pipe: object
    spec: str

    @property
    def image_size(self) -> tuple[int, int]:
        """The size the model was trained at: its UNet's sample size times the VAE's factor."""
        pipe = self.pipe
        side = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        return side, side


def load_pipeline(name: str, device: str) -> LoadedPipeline:
    folder = Path(name).expanduser()
    index = folder / "model_index.json"
    if not index.is_file():
        raise UsageError(f"diffusers:{name}: '{folder}' holds no model_index.json; give a folder in diffusers' "
                         "save_pretrained layout (e.g. a Stable Diffusion folder)")
    try:
        components = [key for key, value in json.loads(index.read_text(encoding="utf-8")).items()
                      if not key.startswith("_") and isinstance(value, list) and value[0] is not None]
    except (OSError, ValueError, AttributeError, IndexError) as error:
        raise UsageError(f"'{index}' is not readable diffusers metadata ({error})") from None
    check_components(folder, components, "diffusers folder")
    from diffusers import AutoPipelineForText2Image

    quiet_loading()
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(folder, use_safetensors=True)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
        raise UsageError(f"'{folder}' does not load as a diffusers text-to-image pipeline "
                         f"({str(error).splitlines()[0]})") from None
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(pipe.to(device), f"diffusers:{name}")
