"""`unclip:` specs: the shipped shapes model, a folder from `train unclip`, or Kandinsky 2.2.

    unclip:shapes                 shipped (weights/shapes, in diffusers' layout)
    unclip:DIR                    a folder `artengine train unclip` wrote; or a folder holding
                                  Kandinsky 2.2's prior/ and decoder/ pipeline folders
    unclip:PRIOR_DIR,DECODER_DIR  Kandinsky 2.2: a KandinskyV22PriorPipeline folder and a
                                  KandinskyV22Pipeline folder (diffusers' save_pretrained layout)

Every weight file is read as safetensors: a folder holding only pickles is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from artengine import UsageError

from .components import CONFIG_FILE, FORMAT
from .folders import check_components

WEIGHTS = Path(__file__).parent / "weights"
SHIPPED = {"shapes": WEIGHTS / "shapes"}


def shipped_cards() -> dict[str, dict]:
    """name -> card of each shipped model present in this installation."""
    cards = {}
    for name, folder in SHIPPED.items():
        try:
            cards[name] = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("card", {})
        except (OSError, ValueError):
            continue
    return cards


def load_unclip(name: str, device: str):
    """The UnclipModel (model.py) that `unclip:NAME` names."""
    if name in SHIPPED:
        if not (SHIPPED[name] / CONFIG_FILE).is_file():
            raise UsageError(f"unclip:{name} is not in this installation ({SHIPPED[name]} is missing); train one "
                             "with `artengine train unclip` and load it as unclip:FOLDER")
        return load_trained(SHIPPED[name], device)
    if "," in name:
        prior, _, decoder = name.partition(",")
        return load_kandinsky(_folder(prior, name), _folder(decoder, name), device)
    folder = _folder(name, name)
    if (folder / CONFIG_FILE).is_file():
        return load_trained(folder, device)
    if (folder / "prior" / "model_index.json").is_file() and (folder / "decoder" / "model_index.json").is_file():
        return load_kandinsky(folder / "prior", folder / "decoder", device)
    raise UsageError(f"unclip:{name}: '{folder}' is neither a folder from `artengine train unclip` (no {CONFIG_FILE}) "
                     "nor a Kandinsky 2.2 folder holding prior/ and decoder/; give unclip:shapes, unclip:FOLDER or "
                     "unclip:PRIOR_DIR,DECODER_DIR")


def _folder(path: str, spec: str) -> Path:
    folder = Path(path.strip()).expanduser()
    if not folder.is_dir():
        raise UsageError(f"unclip:{spec}: '{folder}' is not a folder; give unclip:shapes, unclip:FOLDER or "
                         "unclip:PRIOR_DIR,DECODER_DIR")
    return folder


def load_trained(folder: Path, device: str):
    """A folder `artengine train unclip` wrote, as a ShapesUnclip."""
    import artengine

    from .pipeline import ShapesUnclip

    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise ValueError(f"its format is {config.get('format')!r}, not {FORMAT!r}")
        latents = config["latents"]
        clip_spec, vqgan_spec, mean, std = config["clip"], config["vqgan"], latents["mean"], latents["std"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"'{folder / CONFIG_FILE}' is not a readable unclip config ({error}); train the folder "
                         "again with `artengine train unclip`") from None
    check_components(folder, ("prior", "unet"), "unclip folder")
    prior, unet = _diffusers_part("PriorTransformer", folder, "prior", device), _diffusers_part(
        "UNet2DConditionModel", folder, "unet", device)
    where = f"'{folder / CONFIG_FILE}':"
    from .components import reads_captions

    needs = artengine.CaptionEncoder if reads_captions(unet) or reads_captions(prior) else artengine.TextImageEncoder
    clip = artengine.load_model(clip_spec, device, needs, f"{where} clip")
    vqgan = artengine.load_model(vqgan_spec, device, artengine.ImageTokenizer, f"{where} vqgan")
    return ShapesUnclip(prior, unet, clip, vqgan, mean, std, device)


def _diffusers_part(cls_name: str, folder: Path, subfolder: str, device: str):
    import diffusers
    import torch

    cls = getattr(diffusers, cls_name)
    try:  # float32 whatever the file holds: the weights may ship as float16
        part = cls.from_pretrained(folder, subfolder=subfolder, use_safetensors=True, torch_dtype=torch.float32)
    except (OSError, ValueError, EnvironmentError) as error:
        raise UsageError(f"'{folder / subfolder}' does not load as a diffusers {cls_name} "
                         f"({str(error).splitlines()[0]})") from None
    return part.to(device).eval().requires_grad_(False)


def load_kandinsky(prior: Path, decoder: Path, device: str):
    from .kandinsky import KandinskyUnclip

    check_components(prior, ("prior", "text_encoder", "image_encoder", "tokenizer", "scheduler"), "Kandinsky 2.2 prior")
    check_components(decoder, ("unet", "movq", "scheduler"), "Kandinsky 2.2 decoder")
    return KandinskyUnclip.load(prior, decoder, device)
