"""`read_checkpoint(path)`: tensors out of a checkpoint file without running code from it.

Pickled PyTorch files (.ckpt, .pt, .pth, .bin) can run arbitrary code when unpickled. They
are read in up to two safe passes, and only a user's explicit trust allows the unsafe one:

1. `torch.load(weights_only=True)`: PyTorch's own restricted unpickler.
2. If PyTorch refuses (published taming .ckpt files pickle pytorch-lightning objects), a
   stricter-than-pickle unpickler of our own: tensors, storages and plain containers are
   rebuilt; every other class or function the file names becomes an inert `Unresolved`
   record, without importing its module. Names that only serve to run code (os.system,
   eval, subprocess, ...) make the whole file refused with a clear message. The refusal is
   for clarity: the placeholders alone already keep such code from running.
3. `trust=True`, or the environment variable ARTENGINE_TRUST_CHECKPOINTS=1, allows a full
   `torch.load(weights_only=False)` for files whose source the user trusts.

.safetensors files hold tensors only and are read with safetensors.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from .errors import UsageError
from .safe_io import check_regular, env_flag

TRUST_VARIABLE = "ARTENGINE_TRUST_CHECKPOINTS"
TRUST_HINT = (
    f"if you trust the file's source, set {TRUST_VARIABLE}=1 to load it with full unpickling"
)

# Modules whose names in a checkpoint can only mean "run something": refuse the file.
HOSTILE_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy",
    "pickle", "_pickle", "marshal", "types", "ctypes", "code", "codeop", "pty", "webbrowser",
    "multiprocessing", "asyncio", "operator", "functools", "io", "_io", "pathlib", "tempfile",
    "urllib", "http", "ftplib", "smtplib", "signal", "threading", "_thread", "inspect",
    "pdb", "timeit", "commands", "popen2", "platform", "requests", "torch.hub", "numpy.testing",
})

# builtins a pickle may legitimately name (plain values and containers).
SAFE_BUILTINS = frozenset({
    "set", "frozenset", "list", "dict", "tuple", "int", "float", "complex", "bool", "str",
    "bytes", "bytearray", "slice", "range", "object",
})


class Unresolved:
    """Stands in for an object of a class (or the result of a function) a checkpoint names.

    Nothing of the named module is imported or run: the record only keeps what the file
    said about the object (`args`, `state`, `items`, `values`) for inspection.
    """

    qualified_name = "?"

    def __new__(cls, *args, **kwargs):  # pickle's NEWOBJ calls __new__ alone
        self = super().__new__(cls)
        self.args, self.kwargs, self.state = args, kwargs, None
        self.items: dict = {}
        self.values: list = []
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):  # for dict-like objects (SETITEMS)
        self.items[key] = value

    def append(self, value):  # for list-like objects (APPENDS)
        self.values.append(value)

    def extend(self, values):
        self.values.extend(values)

    def __repr__(self):
        return f"<unresolved {self.qualified_name}>"


class RefusedGlobal(Exception):
    """The checkpoint names something that only serves to run code."""


def _unresolved_class(module: str, name: str) -> type:
    cls = type(name, (Unresolved,), {"qualified_name": f"{module}.{name}"})
    cls.__module__ = "artengine.checkpoints.unresolved"  # never the named module: nothing resolves to it
    return cls


def _reconstructor(cls, base, state):
    """copyreg._reconstructor, restricted to the classes our unpickler hands out."""
    if isinstance(cls, type) and issubclass(cls, Unresolved):
        return cls(state) if state is not None else cls()
    if cls is base and cls in (dict, list, set, tuple, frozenset):
        return cls(state) if state is not None else cls()
    raise RefusedGlobal(f"copyreg._reconstructor of {cls!r}")


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """_codecs.encode as protocol-2 pickles use it to spell bytes; no other codec is looked up."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise RefusedGlobal(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """(module, name) -> object for everything a tensor checkpoint may legitimately name."""
    import collections

    import torch
    import torch._utils

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("_codecs", "encode"): _latin1_bytes,
        ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
        ("torch", "Tensor"): torch.Tensor,
    }
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state", "_rebuild_device_tensor_from_numpy"):
        if hasattr(torch._utils, name):
            allowed["torch._utils", name] = getattr(torch._utils, name)
    for name in dir(torch):
        if isinstance(getattr(torch, name, None), torch.dtype):
            allowed["torch", name] = getattr(torch, name)
    for name in SAFE_BUILTINS:
        allowed["builtins", name] = allowed["__builtin__", name] = getattr(__import__("builtins"), name)
    return allowed


def _numpy_global(module: str, name: str) -> Any:
    """numpy arrays and scalars, which Lightning callbacks sometimes save (numpy is a known dependency)."""
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy < 2
            from numpy.core import multiarray
        return getattr(multiarray, name)
    if module == "numpy" and name in ("ndarray", "dtype"):
        import numpy

        return getattr(numpy, name)
    if module == "numpy.dtypes" and name.endswith("DType"):
        import numpy.dtypes

        return getattr(numpy.dtypes, name, None)
    return None


def _restricted_pickle_module():
    """A stand-in for the `pickle` module, handed to torch.load, whose unpickler resolves
    only `_allowed_globals`; torch adds its own storage handling on top."""
    import types

    allowed = _allowed_globals()
    placeholders: dict[tuple[str, str], type] = {}

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            key = (module, name)
            if key in allowed:
                return allowed[key]
            found = _numpy_global(module, name)
            if found is not None:
                return found
            top = module.split(".")[0]
            if module in HOSTILE_MODULES or top in HOSTILE_MODULES or top in ("builtins", "__builtin__", "copyreg"):
                raise RefusedGlobal(f"{module}.{name}")
            if key not in placeholders:
                placeholders[key] = _unresolved_class(module, name)
            return placeholders[key]

    def load(file, **kwargs):
        return RestrictedUnpickler(file, **kwargs).load()

    return types.SimpleNamespace(__name__="artengine_restricted_pickle", Unpickler=RestrictedUnpickler, load=load)


def trusted_by_environment() -> bool:
    return env_flag(TRUST_VARIABLE)


def read_checkpoint(path: str | os.PathLike, trust: bool | None = None) -> dict:
    """The top-level dict of a checkpoint, tensors on the CPU, read without running its code.

    `trust=None` follows ARTENGINE_TRUST_CHECKPOINTS. Raises UsageError for a missing,
    empty, truncated or foreign file, and for one that cannot be read safely.
    """
    path = check_regular(Path(path).expanduser(), "checkpoint")  # a FIFO or device would block or never end
    if path.stat().st_size == 0:
        raise UsageError(f"checkpoint '{path}' is empty (0 bytes); it was probably not written completely")
    if trust is None:
        trust = trusted_by_environment()
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    result = _read_pickled(path, trust)
    if not isinstance(result, dict):
        raise UsageError(
            f"checkpoint '{path}' holds a {type(result).__name__}, not a dict of tensors "
            "(save a state_dict, not a whole model object)"
        )
    return result


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise UsageError(
            f"checkpoint '{path}' is not a readable safetensors file ({_first_line(error)}); "
            "it may be truncated: write or copy it again"
        ) from None


def _read_pickled(path: Path, trust: bool) -> Any:
    import torch

    if trust:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any failure of a foreign file is the user's to fix
            raise UsageError(f"checkpoint '{path}' could not be read ({_first_line(error)})") from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it did not write itself
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # names something beyond tensors and containers: try the restricted pass
    except Exception as error:  # noqa: BLE001
        raise UsageError(
            f"checkpoint '{path}' is not a readable PyTorch checkpoint ({_first_line(error)}); "
            "it may be truncated or in another format"
        ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle_module())
    except RefusedGlobal as refused:
        raise UsageError(
            f"checkpoint '{path}' refers to {refused}, which can run code when loaded, so it was not "
            f"loaded; {TRUST_HINT}"
        ) from None
    except Exception as error:  # noqa: BLE001
        raise UsageError(
            f"checkpoint '{path}' could not be read safely ({_first_line(error)}); "
            f"it may be truncated or not a checkpoint; {TRUST_HINT}"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def weight_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]] | None:
    """Each tensor's shape in a .safetensors file, from its JSON header alone (nothing else is
    read); None for other formats."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        with safe_open(str(path), framework="pt") as file:  # parses and checks the header only
            return {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise UsageError(f"checkpoint '{path}' is not a readable safetensors file ({_first_line(error)}); "
                         "it may be truncated: write or copy it again") from None


def check_model_fits(build, weights: str | os.PathLike, config: str | os.PathLike, counts: dict[str, Any] | None = None,
                     renamed=None, complete: bool = True) -> None:
    """Refuse, in one line naming `config`, sizes that the weights file cannot fill, before the
    model is made: a config.json asking for 100,000 layers or a width of 65,536 would allocate
    (or take minutes to build) before a weight is read.

    `counts` (name: value) are the config's numbers that say how many modules to build (layers,
    blocks): each must be a whole number no larger than the file's tensor count, so that even
    building on the meta device stays fast. `build()` then makes the model on the meta device
    (no memory), and its tensors' shapes are compared with the file's header: `renamed(name)`
    maps a file's tensor name to the model's (None to skip it); `complete=False` tolerates
    tensors the file names otherwise (a loader that converts layouts). Files other than
    .safetensors are not checked here (their loaders read them whole first)."""
    import torch

    shapes = weight_shapes(weights)
    if shapes is None:
        return
    if renamed is not None:
        shapes = {new: shape for name, shape in shapes.items() if (new := renamed(name)) is not None}
    for key, value in (counts or {}).items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= len(shapes):
            raise UsageError(f"'{config}': {key} is {value!r}, but '{weights}' holds {len(shapes)} tensors in all; "
                             "the config does not belong with these weights")
    try:
        with torch.device("meta"):
            model = build()
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - the library's own refusal of the sizes
        raise UsageError(f"'{config}' describes no model that can be built ({_first_line(error)})") from None
    seen: set[int] = set()  # a tied tensor (an embedding reused as the output layer) is stored once
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict(keep_vars=True).items()
                if not (id(tensor) in seen or seen.add(id(tensor)))}
    wrong = [name for name in expected if name in shapes and shapes[name] != expected[name]]
    missing = [name for name in expected if name not in shapes] if complete else []
    if wrong:
        name = wrong[0]
        raise UsageError(f"'{config}' does not fit '{weights}': it makes {name} of shape {expected[name]}, the file "
                         f"holds {shapes[name]} ({len(wrong)} tensor(s) differ); give the config these weights came with")
    if missing:
        raise UsageError(f"'{config}' does not fit '{weights}': it makes {missing[0]}, which the file lacks "
                         f"({len(missing)} tensor(s) missing); give the config these weights came with")
