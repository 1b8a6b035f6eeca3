"""artengine: a plugin-based generative art engine.

The public API for plugins is what `__all__` names, re-exported here; docs/plugins.md ("The
engine API") says what each name is for. Plugins import nothing else from `artengine`: the
modules behind these names may change. Importing this package stays light (no torch, no
run machinery): the job-level names are imported on first use (`__getattr__` below).
"""

__version__ = "0.1.0"

from .checkpoints import check_model_fits, read_checkpoint  # noqa: E402
from .datasets import load_dataset, open_dataset, parse_data_options  # noqa: E402
from .devices import native_bf16, resolve_device  # noqa: E402
from .discovery import get_registry  # noqa: E402
from .errors import ArtengineError, Interrupted, StopRequested, UsageError, closest, warn  # noqa: E402
from .grid import render_grid  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .images import read_image  # noqa: E402
from .infotext import read_png_metadata  # noqa: E402
from .interfaces import (  # noqa: E402
    Candidate,
    ClipGuide,
    Dataset,
    Generator,
    ImageTokenizer,
    LatentDenoiser,
    Loss,
    LossContext,
    LossSpec,
    ModelInfo,
    ModelLoader,
    Progress,
    Request,
    Scorer,
    SearchHit,
    SearchIndex,
    TextImageEncoder,
)
from .launcher import Shard, current_shard  # noqa: E402
from .memory import check_fits, saved_activation_bytes  # noqa: E402
from .models import load_model, portable_spec  # noqa: E402
from .options import Option, resolve_options  # noqa: E402
from .outputs import claim_folder, lock_folder, replace_file, slugify, write_new  # noqa: E402
from .progress import Reporter, stop_on_signals  # noqa: E402
from .prompts import Prompt, PromptPart, parse_prompt, split_weight  # noqa: E402
from .registry import Registry  # noqa: E402
from .safe_io import check_regular, read_own_file, read_user_file  # noqa: E402
from .trainers import Trainer, TrainingRun  # noqa: E402


# name -> the module that defines it, imported when the name is first used: these pull in the
# run machinery (config, compare, the CLI's click group), which `import artengine` must not.
_LAZY = {
    "CORE_OPTIONS": "config",
    "Plan": "run",
    "Run": "run",
    "generate_ranked": "run",
    "Job": "jobs",
    "GenerateJob": "jobs",
    "CompareJob": "jobs",
    "ReproduceJob": "jobs",
    "ResumeJob": "jobs",
    "Settings": "jobs",
    "check_settings": "jobs",
    "plan_comparison": "jobs",
    "plan_generate": "jobs",
    "plan_reproduce": "jobs",
    "plan_resume": "jobs",
    "run_job": "jobs",
    "emit_json": "cli_group",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'artengine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    # declaring plugin items (docs/plugins.md, "The interfaces")
    "Candidate",
    "ClipGuide",
    "Dataset",
    "Generator",
    "ImageTokenizer",
    "LatentDenoiser",
    "Loss",
    "LossContext",
    "LossSpec",
    "ModelInfo",
    "ModelLoader",
    "Option",
    "Progress",
    "Prompt",
    "PromptPart",
    "Request",
    "Scorer",
    "SearchHit",
    "SearchIndex",
    "TextImageEncoder",
    "Trainer",
    "TrainingRun",
    "hookimpl",
    "parse_prompt",
    "split_weight",
    # errors and messages
    "ArtengineError",
    "Interrupted",
    "StopRequested",
    "UsageError",
    "closest",
    "warn",
    # the registry, models, data, options
    "CORE_OPTIONS",
    "Registry",
    "get_registry",
    "load_dataset",
    "load_model",
    "portable_spec",
    "open_dataset",
    "parse_data_options",
    "resolve_options",
    # files
    "check_regular",
    "claim_folder",
    "lock_folder",
    "read_checkpoint",
    "check_model_fits",
    "read_image",
    "read_own_file",
    "read_png_metadata",
    "read_user_file",
    "render_grid",
    "replace_file",
    "slugify",
    "write_new",
    # devices and memory
    "check_fits",
    "native_bf16",
    "resolve_device",
    "saved_activation_bytes",
    # progress, stopping, output of commands
    "Reporter",
    "emit_json",
    "stop_on_signals",
    # long jobs on several processes
    "Shard",
    "current_shard",
    # whole jobs, as the CLI runs them
    "Job",
    "GenerateJob",
    "CompareJob",
    "ReproduceJob",
    "ResumeJob",
    "Plan",
    "Run",
    "Settings",
    "check_settings",
    "generate_ranked",
    "plan_comparison",
    "plan_generate",
    "plan_reproduce",
    "plan_resume",
    "run_job",
]
