"""The model card (README.md of a checkpoint folder), written from the checkpoint's facts."""

from __future__ import annotations

import json


def render_card(config: dict, name: str = "dalle model") -> str:
    training, card = config.get("training", {}), config.get("card", {})
    model, layout, vqgan = config["model"], config["layout"], config["vqgan"]
    lines = [
        f"# {name}",
        "",
        card.get("description", "A DALL-E-style transformer trained with `artengine train dalle`."),
        "",
        "## Model",
        f"- GPT-2 (`transformers`): {model['layers']} layers, width {model['width']}, {model['heads']} heads, "
        f"{training.get('parameters', '?')} parameters",
        f"- vocabulary: {layout['text_vocab']} text tokens (BPE trained on the captions, tokenizer.json), "
        f"{layout['n_codes']} image codes, 1 <image> token",
        f"- sequence: {layout['text_length']} text positions, then <image> and {layout['rows']}x{layout['cols']} codes",
        f"- VQGAN: `{vqgan['spec']}` (weights hash {vqgan['weights_hash'][:16]}..., checked on load), "
        f"{vqgan['image_size'][0]}x{vqgan['image_size'][1]} pixels",
    ]
    lines += files_section(layout)
    if training:
        settings = training.get("settings", training)  # the shipped dalle:shapes's record keeps them beside the rest
        lines += [
            "",
            "## Training",
            f"- command: `{training.get('command', '?')}`",
            f"- data: {training.get('data', {}).get('name', '?')} ({training.get('data', {}).get('images', '?')} images)",
            f"- steps: {training.get('step')} of {settings.get('steps')}, batch {settings.get('batch_size')} x "
            f"{settings.get('grad_accum')} accumulation x {training.get('world_size')} processes",
            f"- wall time: {training.get('wall_time_s', 0) / 60:.1f} min on {training.get('hardware', '?')}",
            f"- loss weights text:image {settings.get('loss_weights')}, null-caption dropout {settings.get('null_caption')}",
            f"- final losses (mean of the last steps): {json.dumps(training.get('losses', {}))}",
        ]
    if card.get("figures"):
        lines += ["", "## Evaluation", *(f"- {key}: {value}" for key, value in card["figures"].items())]
    if card.get("notes"):
        lines += ["", card["notes"]]
    return "\n".join(lines) + "\n"


def files_section(layout: dict) -> list[str]:
    """How the folder opens in `transformers`, and how its token sequence is laid out."""
    code_offset, image_start = layout["text_vocab"], layout["text_vocab"] + layout["n_codes"]
    return [
        "",
        "## Files",
        "config.json, model.safetensors, tokenizer.json and tokenizer_config.json are what `transformers`' "
        "`save_pretrained` writes (float32 compute; the weights may be stored in half precision), so "
        "`GPT2LMHeadModel.from_pretrained(folder)` gives the transformer with artengine's logits, and "
        "`AutoTokenizer.from_pretrained(folder)` gives its text rows with `padding=\"max_length\", truncation=True`. "
        "artengine_dalle.json holds the rest: the token layout, the VQGAN and the facts below.",
        f"- sequence: the {layout['text_length']} text tokens, then <image> (token {image_start}), then image code c "
        f"as token {code_offset} + c, row by row; the logits at the <image> position and after score the next code",
    ]
