"""`load_model(spec)`: one way to load any model, through the loaders plugins register.

A spec is ``KIND:NAME_OR_PATH`` (``clip:shapes``, ``vqgan:/models/f16.ckpt``). The part
before the first colon picks the loader; the loader interprets the rest. Loaded models are
cached per process, per (spec, device). A caller that needs a kind of model names its protocol
(`expect=ImageTokenizer`), so that any other model is refused in one line, not deep in its work.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import discovery
from .errors import UsageError

_cache: dict[tuple[str, str], Any] = {}


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
    if key not in _cache:
        kind, name = split_spec(spec)
        loader = discovery.get_registry().model_loader(kind)
        _cache[key] = loader.load(name, device)
    model = _cache[key]
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


def clear_cache() -> None:
    _cache.clear()
