"""Zero-shot classification: which of several labels fits each image, as probabilities.

Label embeddings come from open_clip's own `build_zero_shot_classifier` (each label put into
every template, the template embeddings averaged and re-normalised: prompt ensembling), and
its template sets (`openai`: the 80 ImageNet templates of the CLIP paper; `simple`: 2). An
image's probabilities are softmax(logit_scale * cos(image, label)) over the labels, with the
model's own learned logit scale.
"""

from __future__ import annotations

import numpy as np

from collections import Counter

from artengine import UsageError
from artengine.files import read_user_file

TEMPLATE_SETS = ("none", "simple", "openai")


def templates_for(names: list[str], own: list[str]) -> list:
    """Templates from set names and the user's own format strings ('a photo of a {}')."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    sets = {"none": ("{}",), "simple": SIMPLE_IMAGENET_TEMPLATES, "openai": OPENAI_IMAGENET_TEMPLATES}
    for template in own:
        if template.count("{}") != 1:
            raise UsageError(f"--template {short(template)}: write the label's place as {{}} once, e.g. 'a photo of a {{}}'")
    # the user's templates are filled in by plain replacement, never str.format: a format spec
    # such as {0:>900000000} would ask for a string of any size (any other brace is just text)
    own_filled = [lambda label, t=t: label.join(t.split("{}")) for t in own]
    chosen = [t if callable(t) else (lambda label, t=t: t.format(label)) for name in names for t in sets[name]]
    return chosen + own_filled or [lambda label: label]


def short(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:30]!r}…{text[-30:]!r} ({len(text):,} characters)"


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
        data = read_user_file(path, "--labels-file")  # a FIFO or /dev/zero is refused, not read
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise UsageError(f"--labels-file '{path}' is not UTF-8 text (byte {error.start + 1}); save it as UTF-8") from None
        found = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        where = f"--labels-file '{path}'"
    found = [label for label in found if label]
    if len(found) < 2:
        raise UsageError(f"{where}: give at least two labels to choose between")
    repeated = [label for label, count in Counter(found).items() if count > 1]  # linear, for 100,000 labels too
    if repeated:
        raise UsageError(f"{where}: label {short(repeated[0])} is given twice")
    return found
