"""artengine: a plugin-based generative art engine.

`artengine.__all__` is the authoring API, what a plugin is written against: the item classes,
options, prompts, errors, the registry and `load_model` with the typed seams between plugins.
Three public modules hold the rest, each with its own `__all__`: `artengine.files` (reading
untrusted files, writing artengine's own), `artengine.devices` (devices, memory, the processes
of a launch) and `artengine.jobs` (whole jobs as the CLI, the web UI and scripts run them).
docs/plugins.md ("The engine API") says what each name is for. Plugins import nothing else from
`artengine`: the modules behind these names may change. Importing this package stays light (no
torch, no run machinery).
"""

__version__ = "0.1.0"

from .datasets import load_dataset, open_dataset, parse_data_options  # noqa: E402
from .discovery import get_registry  # noqa: E402
from .errors import ArtengineError, Interrupted, StopRequested, UsageError, closest, warn  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .interfaces import (  # noqa: E402
    Candidate,
    CaptionEncoder,
    ClipGuide,
    Dataset,
    Generator,
    ImageTokenizer,
    LatentDenoiser,
    Loss,
    LossContext,
    ModelInfo,
    ModelLoader,
    Progress,
    Request,
    Scorer,
    SearchHit,
    SearchIndex,
    TextImageEncoder,
)
from .models import load_model, portable_spec  # noqa: E402
from .options import Option, resolve_options  # noqa: E402
from .prompts import Prompt, PromptPart, parse_prompt, split_weight  # noqa: E402
from .trainers import Trainer, TrainingRun  # noqa: E402

__all__ = [
    # declaring plugin items (docs/plugins.md, "The interfaces")
    "Dataset",
    "Generator",
    "Loss",
    "ModelInfo",
    "ModelLoader",
    "Option",
    "Scorer",
    "Trainer",
    "TrainingRun",
    "hookimpl",
    # what a generator is given and gives back, and what its losses are told
    "Candidate",
    "ClipGuide",
    "LossContext",
    "Progress",
    "Request",
    # prompts
    "Prompt",
    "PromptPart",
    "parse_prompt",
    "split_weight",
    # the typed seams between plugins (docs/plugins.md, "What plugins share")
    "CaptionEncoder",
    "ImageTokenizer",
    "LatentDenoiser",
    "SearchHit",
    "SearchIndex",
    "TextImageEncoder",
    # errors and messages
    "ArtengineError",
    "Interrupted",
    "StopRequested",
    "UsageError",
    "closest",
    "warn",
    # the registry, models, data, options
    "get_registry",
    "load_dataset",
    "load_model",
    "open_dataset",
    "parse_data_options",
    "portable_spec",
    "resolve_options",
]
