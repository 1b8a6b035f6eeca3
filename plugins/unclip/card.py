"""The model card (README.md) of an unCLIP folder: how it was trained and what it scores."""

from __future__ import annotations


def render_card(config: dict, spec: str) -> str:
    training, card = config["training"], config.get("card", {})
    parameters = training["parameters"]
    lines = [
        f"# {spec}", "",
        card.get("description", "A DALL·E 2-style model (unCLIP): a CLIP prior and a diffusion decoder over "
                 "VQGAN latents, in diffusers' folder layout."), "",
        "## Parts", "",
        f"- prior: diffusers `PriorTransformer`, {parameters['prior'] / 1e6:.2f}M parameters, maps "
        f"`{config['clip']}` text embeddings" + (" and the caption's token states" if config.get("captions") else "")
        + " to its image embeddings (predicts the clean embedding)",
        f"- decoder: diffusers `UNet2DConditionModel`, {parameters['unet'] / 1e6:.2f}M parameters, draws "
        f"{'x'.join(map(str, config['latents']['grid']))} latents of `{config['vqgan']}` (v-prediction), "
        "conditioned on the image embedding" + (f" and the caption's `{config['clip']}` token states"
                                                 if config.get("captions") else ""),
        f"- images: {config['image_size'][0]}x{config['image_size'][1]}, decoded by `{config['vqgan']}`", "",
        "Each component loads with diffusers' own classes: `PriorTransformer.from_pretrained(FOLDER, "
        "subfolder=\"prior\")`, `UNet2DConditionModel.from_pretrained(FOLDER, subfolder=\"unet\")`.", "",
        "## Training", "",
        f"- command: `{training['command']}`",
        f"- data: {training['data']['images']} pairs of `{training['data']['spec']}` (seed {training['data']['seed']})",
        f"- steps: {training['step']}, batch size {training['settings'].get('batch_size')}, learning rate "
        f"{training['settings'].get('lr')}, on {training['hardware']}, {training['wall_time_s'] / 3600:.2f} h",
        "- final losses: " + ", ".join(f"{name} {value}" for name, value in training["losses"].items()),
    ]
    if card.get("notes"):
        lines += ["", card["notes"].rstrip()]
    figures = card.get("figures", {})
    if figures:
        lines += ["", "## Figures", "", *(f"- {name}: {value}" for name, value in figures.items())]
        if card.get("figures_command"):
            lines += ["", f"Measured with `{card['figures_command']}`."]
    return "\n".join(lines) + "\n"
