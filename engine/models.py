"""`load_model(spec)`: one way to load any model, through the loaders plugins register.

A spec is ``KIND:NAME_OR_PATH`` (``clip:shapes``, ``vqgan:/models/f16.ckpt``). The part
before the first colon picks the loader; the loader interprets the rest. A caller that needs a
kind of model names its protocol (`expect=ImageTokenizer`), so that any other model is refused
in one line, not deep in its work.

Loaded models are cached per process, per (spec, device), least recently used first out: the
cache keeps at most ARTENGINE_MODEL_CACHE models (default 3), so that a long-lived process (the
web UI) does not keep every model it ever loaded. A model let go on a CUDA device gives its
memory back to the driver once nothing else holds it. One that something still holds (a
running job's generator) is not loaded a second time: while it lives, its spec gives that very
object, which plugins rely on to tell "the same model" by identity.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import sys
import threading
import weakref
from collections import OrderedDict
from typing import Any

from . import discovery
from .errors import UsageError, quote

CACHE_VARIABLE = "ARTENGINE_MODEL_CACHE"
DEFAULT_CACHE_SIZE = 3

_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
"""The models kept loaded, least recently used first."""
_alive: weakref.WeakValueDictionary[tuple[str, str], Any] = weakref.WeakValueDictionary()
"""Every loaded model that is still in memory, kept or not (a path or a string, which cannot be
referenced weakly, is only ever in `_cache`)."""
_lock = threading.Lock()  # the web UI loads models from several threads


def split_spec(spec: str) -> tuple[str, str]:
    kind, sep, name = spec.partition(":")
    if not sep or not kind or not name:
        raise UsageError(f"model spec {spec!r} must look like KIND:NAME, e.g. 'clip:shapes'")
    return kind, name


def load_model(spec: str, device: str = "cpu", expect: type | None = None, where: str = "model") -> Any:
    """Load (or fetch from the cache) the model named by `spec` on `device`.

    `expect` is what the caller needs it to be, a runtime-checkable protocol such as
    `ImageTokenizer`: a model that is not one is refused with one line naming the setting
    (`where`, e.g. "generator.vqgan"), the spec and what the model lacks."""
    key = (spec, device)
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = _alive.get(key)  # let go of but still held elsewhere: that one, never a second copy
    if model is None:
        kind, name = split_spec(spec)
        model = discovery.get_registry().model_loader(kind).load(name, device)
    _keep(key, model)
    if expect is not None and not isinstance(model, expect):
        lacks = [member for member in protocol_members(expect) if not hasattr(model, member)]
        raise UsageError(f"{where} {spec!r} loads {_a(type(model).__name__)}, which is not {_a(expect.__name__)}"
                         + (f": it has no {', '.join(lacks)}" if lacks else ""))
    return model


def protocol_members(protocol: type) -> list[str]:
    """The public attributes and methods a protocol class declares, in order."""
    methods = [name for name, value in vars(protocol).items() if inspect.isfunction(value)]
    return [name for name in [*getattr(protocol, "__annotations__", {}), *methods] if not name.startswith("_")]


def _a(name: str) -> str:
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def portable_spec(spec: str) -> str:
    """The spec with a relative path made absolute, for a record that must work from any folder
    (a checkpoint naming the model it was trained with).

    Names a loader serves by itself (`vqgan:shapes`) stay as they are, even if a folder of that
    name happens to exist here."""
    from pathlib import Path

    kind, _, name = spec.partition(":")
    path = Path(name).expanduser()
    if not name or path.is_absolute() or not path.exists():
        return spec
    try:
        served = {info.spec for info in discovery.get_registry().model_loader(kind).available()}
    except UsageError:
        served = set()
    return spec if spec in served else f"{kind}:{path.resolve()}"


def cache_size() -> int:
    """How many models the cache keeps: ARTENGINE_MODEL_CACHE, else DEFAULT_CACHE_SIZE."""
    value = os.environ.get(CACHE_VARIABLE, "").strip()
    if not value:
        return DEFAULT_CACHE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise UsageError(f"the environment variable {CACHE_VARIABLE}={quote(os.environ[CACHE_VARIABLE])} is not a "
                         f"number of models from 1 up; unset it (default {DEFAULT_CACHE_SIZE}) or give one such as 2")
    return int(value)


def _keep(key: tuple[str, str], model: Any) -> None:
    """Keep `model` as the most recently used, and let go of the least recently used beyond
    `cache_size()`, freeing the CUDA memory of those nothing else holds."""
    limit = cache_size()
    with _lock:
        _cache[key] = model
        _cache.move_to_end(key)
        with contextlib.suppress(TypeError):  # not weakly referable (a path): nothing to share
            _alive[key] = model
        evicted = [_cache.popitem(last=False) for _ in range(len(_cache) - limit)]
    if any(device.startswith("cuda") for (_, device), _ in evicted):
        del evicted
        release_cuda_memory()


def release_cuda_memory() -> None:
    """Hand the memory of the CUDA tensors no one holds any more back to the driver (other
    processes and libraries see it free); only when torch is already imported."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return
    gc.collect()  # a model's own reference cycles would otherwise hold its tensors until the next collection
    torch.cuda.empty_cache()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _alive.clear()
