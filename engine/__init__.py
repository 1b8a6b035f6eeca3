"""artengine: a plugin-based generative art engine.

The public API for plugin authors is re-exported here; see docs/plugins.md.
"""

__version__ = "0.1.0"

from .errors import ArtengineError, Interrupted, StopRequested, UsageError, warn  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .interfaces import (  # noqa: E402
    Candidate,
    Dataset,
    Generator,
    ImageTokenizer,
    Loss,
    LossSpec,
    ModelInfo,
    ModelLoader,
    Progress,
    Request,
    Scorer,
    TextImageEncoder,
)
from .images import read_image  # noqa: E402
from .models import load_model  # noqa: E402
from .options import Option  # noqa: E402
from .outputs import replace_file  # noqa: E402
from .prompts import Prompt, PromptPart, parse_prompt, split_weight  # noqa: E402
from .safe_io import check_regular, read_user_file  # noqa: E402
from .sharding import Shard, current_shard  # noqa: E402
from .trainers import Trainer, TrainingRun  # noqa: E402

__all__ = [
    "ArtengineError",
    "Candidate",
    "Dataset",
    "Generator",
    "ImageTokenizer",
    "Interrupted",
    "Loss",
    "LossSpec",
    "ModelInfo",
    "ModelLoader",
    "Option",
    "Progress",
    "Prompt",
    "PromptPart",
    "Request",
    "Scorer",
    "Shard",
    "StopRequested",
    "TextImageEncoder",
    "Trainer",
    "TrainingRun",
    "UsageError",
    "check_regular",
    "current_shard",
    "hookimpl",
    "load_model",
    "parse_prompt",
    "read_image",
    "read_user_file",
    "replace_file",
    "split_weight",
    "warn",
]
