"""What steers an image towards the prompt, shared by every generator of this plugin: the CLIP
guides, the request's losses (with the main `clip` term), this request's cutouts, and the sum of
the weighted losses at one step.

A generator makes one `Steering` per request and calls `total(images, step, ...)` at each of its
steps; it never needs to know which losses the user chose (pixray's drawers work the same way).
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch

from artengine import LossContext, StopRequested, UsageError

from .checks import main_loss
from .cutouts import Cutouts
from .guides import build_guides


class Steering:
    """One request's guides, losses and cutouts; `total` evaluates them on a step's images."""

    def __init__(self, request, settings, steps: int, losses: list, tokenizer=None):
        seeds = request.seeds
        self.losses = losses
        self.guides = build_guides(settings, request.prompt, request.device)
        # each candidate's cutouts draw from its own generators: candidate i depends on seeds[i] alone
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.noise_generators = self.generators if request.device == "cpu" else [
            torch.Generator(device=request.device).manual_seed(seed) for seed in seeds]
        self.cutouts = Cutouts(settings.cutn, settings.cut_pow, settings.augment, self.generators,
                               self.noise_generators)
        self.context = LossContext(request, steps, tokenizer=tokenizer, guides=tuple(self.guides))
        self.terms: dict[str, torch.Tensor] = {}  # the last value of each loss, read at the end

    @property
    def models(self) -> list:
        """The CLIP models, for `frozen`."""
        return [guide.model for guide in self.guides]

    def total(self, images: torch.Tensor, step: int, **fields) -> torch.Tensor:
        """The weighted sum of the losses on `images` at `step`; `fields` are the LossContext's
        (latents, quantized, init_images, ...) for this step."""
        made: dict = {}

        def cutouts(of: torch.Tensor, size: int) -> torch.Tensor:
            """This step's cutouts of `of` at `size`, made once however many losses ask."""
            if (id(of), size) not in made:
                made[id(of), size] = (of, self.cutouts(of, size))  # holding `of` keeps its id unique
            return made[id(of), size][1]

        context = dataclasses.replace(self.context, step=step, cutouts=cutouts, **fields)
        total = torch.zeros((), device=images.device)
        for loss in self.losses:
            value = loss(images, context)
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                raise UsageError(f"loss '{loss.name}' returned {type(value).__name__}, not a scalar tensor")
            self.terms[loss.name] = value.detach()  # read at the end: reading each step would wait for the device
            total = total + loss.weight * value.float()
        return total

    def similarities(self, images: torch.Tensor) -> list[float]:
        """Per image, the guides' weighted mean cosine similarity to their targets (higher: closer)."""
        total = torch.zeros(images.shape[0], device=images.device)
        for guide in self.guides:
            resized = torch.nn.functional.interpolate(images, size=(guide.image_size,) * 2, mode="bilinear",
                                                      align_corners=False, antialias=True)
            embeddings = torch.nn.functional.normalize(guide.model.encode_image(resized).float(), dim=-1)
            cosines = embeddings @ guide.targets.T  # B x K
            total += guide.weight * (cosines * guide.target_weights).sum(1) / guide.target_weights.abs().sum()
        return (total / sum(abs(guide.weight) for guide in self.guides)).tolist()

    def metadata(self, run, images: torch.Tensor) -> list[dict]:
        """Each final image's metadata: the steps done, CLIP's similarity, the last step's loss
        terms, and whether the run was resumed or stopped (`run`: the generator's loop)."""
        losses = {name: round(float(value), 6) for name, value in self.terms.items()}
        records = []
        for similarity in self.similarities(images):
            record = {"steps": run.done, "clip_similarity": round(similarity, 5), "losses": losses}
            if run.first_step:
                record["resumed_at_step"] = run.first_step
            if run.interrupted:
                record["interrupted"] = True
            records.append(record)
        return records


def with_main_loss(request) -> list:
    """The request's losses, with the main `clip` term first when the user did not give it."""
    losses = list(request.losses)
    if "clip" not in {loss.name for loss in losses}:
        losses.insert(0, main_loss(request))
    return losses


def run_request(run, progress, *models) -> list:
    """A generator's request, its models frozen: `run.start()`, then `run.loop(progress)`; a stop
    keeps the state (`run.save()`) and returns the work so far. `run.candidates()` either way."""
    with frozen(*models):
        run.start()
        try:
            run.loop(progress)
        except StopRequested:
            run.interrupted = True
            run.save()
        return run.candidates()


@contextlib.contextmanager
def frozen(*models):
    """No gradients for the models' weights while the image is steered; restored after."""
    parameters = [p for model in models if hasattr(model, "parameters") for p in model.parameters()]
    flags = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


def precision(name: str, device: str):
    """bf16 autocast where asked (and by default on CUDA); fp32 elsewhere."""
    if name == "bf16" or (name == "auto" and device == "cuda"):
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()
