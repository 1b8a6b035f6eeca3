"""Zero-shot classification: which of several labels fits each image, as probabilities.

Label embeddings come from open_clip's own `build_zero_shot_classifier` (each label put into
every template, the template embeddings averaged and re-normalised: prompt ensembling), and
its template sets (`openai`: the 80 ImageNet templates of the CLIP paper; `simple`: 2). An
image's probabilities are softmax(logit_scale * cos(image, label)) over the labels, with the
model's own learned logit scale.
"""

from __future__ import annotations

import numpy as np

from artengine import UsageError

TEMPLATE_SETS = ("none", "simple", "openai")


def templates_for(names: list[str], own: list[str]) -> list:
    """Templates from set names and the user's own format strings ('a photo of a {}')."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    sets = {"none": ("{}",), "simple": SIMPLE_IMAGENET_TEMPLATES, "openai": OPENAI_IMAGENET_TEMPLATES}
    for template in own:
        if template.count("{}") != 1:
            raise UsageError(f"--template {template!r}: write the label's place as {{}} once, e.g. 'a photo of a {{}}'")
    # open_clip takes either format strings or callables; make all of them callables
    chosen = [t for name in names for t in sets[name]] + list(own)
    return [t if callable(t) else (lambda label, t=t: t.format(label)) for t in chosen] or [lambda label: label]


def label_weights(model, labels: list[str], templates: list):
    """D x C label embeddings (torch), through open_clip's zero-shot classifier builder."""
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    return build_zero_shot_classifier(model.network, model.tokenizer, labels, templates,
                                      num_classes_per_batch=max(1, 256 // len(templates)), device=model.device)


def probabilities(model, image_embeddings: np.ndarray, weights) -> np.ndarray:
    """N x C probabilities: softmax over the labels of the model's logit scale x cosine."""
    import torch

    scale = model.network.logit_scale.exp().float().cpu() if hasattr(model.network, "logit_scale") else torch.tensor(100.0)
    logits = scale * torch.from_numpy(image_embeddings).float() @ weights.float().cpu()
    return logits.softmax(dim=-1).numpy()


def read_labels(labels: str | None, labels_file: str | None) -> list[str]:
    from pathlib import Path

    if (labels is None) == (labels_file is None):
        raise UsageError("give the labels with --labels \"a cat,a dog\" or --labels-file FILE (one label a line), not both")
    if labels is not None:
        found = [label.strip() for label in labels.split(",")]
        where = "--labels"
    else:
        path = Path(labels_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"--labels-file '{path}': cannot read it ({getattr(error, 'strerror', None) or error})") from None
        found = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        where = f"--labels-file '{path}'"
    found = [label for label in found if label]
    if len(found) < 2:
        raise UsageError(f"{where}: give at least two labels to choose between")
    repeated = sorted({label for label in found if found.count(label) > 1})
    if repeated:
        raise UsageError(f"{where}: label {repeated[0]!r} is given twice")
    return found
