"""What plugins implement and hand each other: explicit, typed, documented.

- The plugin items: `Generator`, `Scorer`, `Loss` and `Dataset` (a `Trainer` is in
  trainers.py). A plugin subclasses one of these ABCs, declares `name`, `description` and
  `options` as class attributes, and registers the class through a hook (see
  artengine.hookspecs).
- `ModelLoader`: an instance, registered for a spec prefix (`clip:`, `vqgan:`), that
  `load_model` asks; `ModelInfo` is one model it lists.
- What flows between the engine and a generator: `Request`, `Candidate` and the `Progress`
  callback.
- The typed seams between the models one plugin loads and the generators of another:
  `ImageTokenizer` and `TextImageEncoder`.

Keep heavy imports (torch, open_clip, ...) inside methods so that listing plugins stays fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

from .errors import UsageError
from .options import Option
from .prompts import Prompt

if TYPE_CHECKING:  # pillow and torch are only needed by code that makes images
    import random

    from PIL.Image import Image
    import torch


class Item(ABC):
    """What every registered generator, scorer, loss, dataset and trainer declares, and how the
    engine builds it: `cls(options, device)`, its declared options resolved (`self.settings`)
    and the resolved device string (`self.device`). Whatever else a kind needs arrives with each
    use: a generator's request, a loss's context, a trainer's run. An item that defines
    `__init__` takes these two arguments and calls `super().__init__(options, device)`."""

    name: ClassVar[str]
    """Registry name, as used by `-g NAME`, `--scorer NAME`, `--loss NAME:WEIGHT`."""
    description: ClassVar[str]
    """One line for `artengine list`."""
    options: ClassVar[tuple[Option, ...]] = ()
    """Every setting the item takes, declared once."""

    def __init__(self, options: Mapping[str, Any], device: str):
        self.settings = dict(options)
        self.device = device


@dataclass(frozen=True)
class Request:
    """Everything a generator needs to make the candidates for one prompt.

    Candidate ``i`` must depend only on ``seeds[i]`` (and the rest of the request), never
    on its neighbours: that is what lets `artengine reproduce` remake one image alone.
    """

    prompt: Prompt
    """Weighted parts; `prompt.negative` holds the parts to push away from."""
    seeds: tuple[int, ...]
    """One seed per candidate; `len(seeds)` candidates are wanted."""
    size: tuple[int, int]
    """(width, height) in pixels."""
    device: str
    """'cpu', 'cuda' or 'mps', already checked to be available."""
    options: Mapping[str, Any]
    """The generator's declared options, resolved (defaults filled in, types checked)."""
    losses: tuple["Loss", ...] = ()
    """Extra loss terms chosen by the user, for generators that optimise."""
    state_dir: "Path | None" = None
    """A folder (not yet created) where the generator may keep what it needs to continue after
    an interruption: `--resume` hands the same request the same folder again."""

    @property
    def count(self) -> int:
        return len(self.seeds)


@dataclass
class Candidate:
    """One image a generator made, with whatever it wants recorded beside it."""

    image: "Image"
    """An RGB PIL image."""
    seed: int
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable facts about this image (e.g. final loss); stored in the PNG."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files saved beside the PNG, named '<png name without .png>-<key>', e.g.
    {"progress.gif": ...} for an animation of the optimisation."""


class Progress(Protocol):
    """The progress callback a generator (and the training loop) calls as it works: `preview`
    is an image so far, `figures` a few named numbers shown beside the bar ({"loss": 0.12}).

    Calling it after the user asked to stop (Ctrl-C) raises artengine.errors.StopRequested.
    """

    def __call__(self, step: int, total: int, preview: "Image | None" = None,
                 figures: Mapping[str, float] | None = None) -> None: ...


class Generator(Item):
    """Turns a request into candidate images."""

    default_size: ClassVar[tuple[int, int]] = (64, 64)
    """(width, height) used when the user gives no `--size`."""
    memory_hint: ClassVar[str] = ""
    """Options that lower its memory use besides --size and -n, e.g. 'generator.cutn': named when
    a run runs out of memory."""
    takes_losses: ClassVar[bool] = False
    """Whether it optimises `request.losses` (`--loss`): the web UI offers losses only then."""

    def size_for(self, options: Mapping[str, Any], device: str) -> tuple[int, int]:
        """(width, height) when the user gives no `--size`, for these resolved options on this
        device: `default_size` unless an option decides it (a model that makes one size)."""
        return tuple(self.default_size)

    def check(self, request: Request) -> None:
        """Refuse a request that cannot work (e.g. a size the model cannot make) by raising
        artengine.errors.UsageError, before any heavy work starts. The default accepts all."""

    @abstractmethod
    def generate(self, request: Request, progress: Progress) -> list[Candidate]:
        """Return `request.count` candidates, in the order of `request.seeds`.

        Call `progress(step, total, preview)` regularly; it raises StopRequested when the user
        asks to stop. Catch it to return the work so far (mark each candidate's
        ``metadata["interrupted"] = True``), or let it propagate.
        """


class Scorer(Item):
    """Judges images against a prompt; higher is better."""

    def check(self) -> None:
        """Refuse settings that cannot work (e.g. a model that does not load) by raising
        artengine.errors.UsageError, before any image is made. The default accepts all."""

    @abstractmethod
    def score(self, images: list["Image"], prompt: Prompt) -> list[float]:
        """One score per image, comparable across images for the same prompt."""


class Loss(Item):
    """A named, weighted, differentiable term that optimisation generators add up.

    The generator computes ``loss.weight * loss(images, context)`` for each chosen loss. The
    weight is the setting every loss has beside its declared options (`--loss NAME:WEIGHT`,
    `[losses.NAME] weight = ...`): the engine hands it in with them, as `options["weight"]`.
    """

    @property
    def weight(self) -> float:
        """How much the loss counts (1 when not given); 0 leaves it out."""
        return self.settings.get("weight", 1.0)

    def check(self, request: Request) -> None:
        """Refuse settings that cannot work for this request (e.g. a model that does not load)
        with artengine.UsageError, before any output folder is made. The default accepts all."""

    @abstractmethod
    def __call__(self, images: "torch.Tensor", context: LossContext) -> "torch.Tensor":
        """A scalar tensor (unweighted) for images B x 3 x H x W in [0, 1].

        `context` carries what the generator knows and a loss may need (the request, the step,
        the latents...); `context.need(name)` refuses in one line when the generator lacks it.
        """


class Dataset(Item):
    """A named source of image-caption pairs for training and evaluation (`--data NAME`).

    Its pairs are PIL images, made on the CPU: the engine builds it with the device "cpu"."""

    @abstractmethod
    def pairs(self, count: int, seed: int) -> Sequence[tuple["Image", list[str]]]:
        """`count` (RGB image, captions) pairs, the same ones for the same seed.

        A sequence (len and indexing), so it also serves as a torch Dataset.
        """

    def evaluation_pairs(self, count: int, seed: int) -> Sequence[tuple["Image", list[str]]]:
        """Pairs for retrieval evaluation, their captions as complete as the dataset writes
        them (every attribute named); by default `pairs`."""
        return self.pairs(count, seed)

    def hard_negatives(self, caption: str, count: int, rng: "random.Random") -> list[str]:
        """Up to `count` distinct captions false for every image `caption` fits (it with one
        attribute changed, say), drawn with `rng`, for contrastive training to rank below
        it. By default none: the dataset knows no grammar of its captions."""
        return []

    def compatible(self, a: str, b: str) -> bool:
        """Whether one image could fit both captions (contrastive training keeps such pairs
        apart). By default only when they are the same text."""
        return a == b


@dataclass(frozen=True)
class ModelInfo:
    """A model a loader can load without being told a path (a shipped one, say)."""

    spec: str
    """e.g. 'clip:shapes'"""
    description: str
    details: Mapping[str, Any] = field(default_factory=dict)
    """Figures from its model card, for `artengine list models`."""


class ModelLoader(ABC):
    """Resolves the specs of one kind, e.g. every 'clip:...' spec."""

    kind: ClassVar[str]
    """The prefix before the colon: 'clip', 'vqgan', 'dalle'."""
    description: ClassVar[str]
    spec_forms: ClassVar[tuple[str, ...]] = ()
    """The kinds of spec accepted, for `list models`, e.g. ('clip:shapes', 'clip:PATH')."""

    def available(self) -> list[ModelInfo]:
        """Models that load by name alone (shipped or cached)."""
        return []

    @abstractmethod
    def load(self, name: str, device: str) -> Any:
        """Load the model named by the part of the spec after 'kind:'.

        Raise artengine.errors.UsageError with a clear message when it cannot be loaded.
        """


@runtime_checkable
class ImageTokenizer(Protocol):
    """An image tokenizer with its continuous latent space (a VQGAN: `load_model("vqgan:...")`).

    It links three spaces, each batched:

    - pixels: B x 3 x H x W floats in [0, 1], H and W multiples of `factor`;
    - codes: B x h x w longs (h = H / factor, w = W / factor), indexing `codebook`;
    - latents: B x D x h x w floats, D = `codebook.shape[1]`. A code's latent is its codebook
      vector, but any latent decodes: optimisation and diffusion work in this space.

    ``encode``: pixels -> codes; ``embed``: codes -> latents; ``decode_latents``: latents ->
    pixels; ``decode(codes)`` is ``decode_latents(embed(codes))``.
    """

    factor: int
    """Pixels per code along each side (16 for taming's f16 models, 8 for f8)."""
    codebook: "torch.Tensor"
    """n_codes x D code vectors, on the model's device."""

    def encode(self, images: "torch.Tensor") -> "torch.Tensor":
        """The code of each factor x factor patch: its nearest codebook vector."""

    def decode(self, codes: "torch.Tensor") -> "torch.Tensor":
        """Pixels from codes."""

    def embed(self, codes: "torch.Tensor") -> "torch.Tensor":
        """The latents of codes: their codebook vectors, B x D x h x w."""

    def decode_latents(self, latents: "torch.Tensor") -> "torch.Tensor":
        """Pixels from latents, quantised or not; differentiable in `latents`."""


@runtime_checkable
class TextImageEncoder(Protocol):
    """What generators and scorers need from a text-image encoder (a CLIP: `load_model("clip:...")`).

    Both encoders return L2-normalised B x D embeddings in one space; `encode_image` takes
    images B x 3 x H x W in [0, 1] of any size and is differentiable in them."""

    image_size: tuple[int, int]

    def encode_text(self, texts: list[str]) -> "torch.Tensor": ...

    def encode_image(self, images: "torch.Tensor") -> "torch.Tensor": ...


@runtime_checkable
class CaptionEncoder(TextImageEncoder, Protocol):
    """A TextImageEncoder that also gives each token's state, for a decoder that reads the
    caption word by word as DALL·E 2's does (the shipped CLIPs are ones)."""

    def encode_text_tokens(self, texts: list[str]) -> "torch.Tensor":
        """B x L x D: every token's final state in the embedding space, L2-normalised; the row of
        the token the text embedding is pooled from equals `encode_text`'s row."""


@runtime_checkable
class LatentDenoiser(Protocol):
    """A diffusion model over an image tokenizer's continuous latents, as a loss (score
    distillation) or a guided sampler uses it (`load_model("unclip:...")` gives one).

    Latents are the tokenizer's own (B x C x h x w, what its `embed` returns); the model works
    in a normalised copy of them (`normalise` / `denormalise`). Timesteps index its training
    noise schedule, 0 (clean) to `timesteps - 1` (pure noise)."""

    tokenizer: ImageTokenizer
    """The tokenizer whose latent space it draws in."""
    latent_shape: tuple[int, int, int]
    """(C, h, w) of the latents it was trained on."""
    timesteps: int
    noise_schedule: Any
    """A diffusers scheduler holding its training noise schedule: a sampler is
    `DDIMScheduler.from_config(model.noise_schedule.config, prediction_type="sample")`, fed
    `predict_clean`'s estimates."""

    def condition(self, prompt: Prompt, generators: list[Any]) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(conditions, unconditional): one row each per torch.Generator, for the prompt
        (its negative parts are the unconditional side where the model has one)."""

    def unconditional(self, count: int) -> "torch.Tensor":
        """`count` rows of the model's 'no condition'."""

    def normalise(self, latents: "torch.Tensor") -> "torch.Tensor": ...

    def denormalise(self, latents: "torch.Tensor") -> "torch.Tensor": ...

    def add_noise(self, clean: "torch.Tensor", noise: "torch.Tensor", t: "torch.Tensor") -> "torch.Tensor":
        """Normalised latents noised to timesteps `t` (one per row)."""

    def predict_clean(self, noisy: "torch.Tensor", t: "torch.Tensor", condition: "torch.Tensor",
                      negative: "torch.Tensor | None" = None, guidance: float = 1.0) -> "torch.Tensor":
        """The model's estimate of the clean normalised latents, one condition row per row; with
        `negative` rows, classifier-free guidance: negative's + guidance x (condition's - negative's)."""


class ClipGuide(Protocol):
    """A text-image encoder steering an optimisation towards the prompt, as losses see it
    (`LossContext.guides`: vqgan-clip's `generator.clip` models)."""

    spec: str
    """The model's spec, e.g. 'clip:shapes'."""
    weight: float
    """Its weight among the guides."""
    model: TextImageEncoder
    image_size: int
    """The side of the square images it is shown."""
    targets: "torch.Tensor"
    """K x D normalised embeddings: the prompt's parts, then the image prompts."""
    target_weights: "torch.Tensor"
    """K weights; a negative one is a target to move away from."""
    labels: Sequence[str]
    """What each target is (the part's text, the image prompt's path)."""

    def text_targets(self, prompt: Prompt) -> tuple["torch.Tensor", "torch.Tensor"]:
        """(targets, weights) of another prompt's parts, computed once and kept."""


@dataclass(frozen=True)
class LossContext:
    """What an optimising generator tells its losses at each step: `loss(images, context)`.

    `images`, the loss's first argument, are the images of this step, B x 3 x H x W in [0, 1]
    and differentiable. A field the generator does not give is None; a loss that needs one asks
    `context.need(name, loss)`, which refuses in one line.
    """

    request: Request
    """The request being made: `prompt`, `seeds`, `size`, `device`, the generator's `options`."""
    steps: int
    """The optimisation's total steps."""
    step: int = 0
    """This step, from 0."""
    tokenizer: "ImageTokenizer | None" = None
    """The image tokenizer whose latent space `latents` live in."""
    latents: "torch.Tensor | None" = None
    """The continuous latents being optimised, B x D x h x w (they require grad)."""
    quantized: "torch.Tensor | None" = None
    """The latents as decoded into `images`, each position snapped to its nearest code (the
    gradient passed straight through to `latents`)."""
    init_images: "torch.Tensor | None" = None
    """The init image, B x 3 x H x W in [0, 1], when the generator starts from one."""
    init_latents: "torch.Tensor | None" = None
    """Its latents, B x D x h x w."""
    guides: "Sequence[ClipGuide] | None" = None
    """The text-image encoders steering towards the prompt, one per model."""
    cutouts: "Callable[[torch.Tensor, int], torch.Tensor] | None" = None
    """`cutouts(images, size)`: this step's augmented square cutouts of `images` at `size`,
    (B x cutn) x 3 x size x size, candidate-major, made once however many losses ask."""

    @property
    def prompt(self) -> Prompt:
        return self.request.prompt

    @property
    def device(self) -> str:
        return self.request.device

    def need(self, name: str, loss: str = "this loss") -> Any:
        """The field `name`; UsageError, one line, when the generator does not give it."""
        value = getattr(self, name)
        if value is None:
            raise UsageError(f"{loss} needs '{name}' from the generator, which does not give it; "
                             "use it with a generator that does")
        return value


class SearchHit(Protocol):
    """One image a `SearchIndex` found."""

    rank: int
    """1 for the best."""
    similarity: float
    """The query's similarity to the image (higher: closer)."""
    path: str
    """The image file."""
    row: Mapping[str, Any]
    """What the index records about the image (its PNG metadata's prompt, seed, generator...)."""


@runtime_checkable
class SearchIndex(Protocol):
    """A searchable collection of images (`load_model("index:PATH")`, the search plugin's)."""

    def search(self, text: str | None = None, image: Any = None, k: int = 20,
               where: str | None = None) -> Sequence[SearchHit]:
        """The `k` images that best match `text` (prompt syntax) and/or `image` (a path or a PIL
        image), best first, among those the `where` filter selects (all by default)."""
