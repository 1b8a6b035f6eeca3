"""Will a request fit in memory? Refuse it up front, from an estimate, saying what to lower.

Generators estimate what a request needs in their `check` and call `check_fits`, which compares
it with what the device has free: for CUDA `torch.cuda.mem_get_info`, for the CPU the
available RAM (MemAvailable in /proc/meminfo, else sysconf). An out-of-memory error during a
run is caught by the core (engine/run.py) and reported the same way.

`saved_activation_bytes` helps estimating: it runs a small forward pass and adds up the tensors
autograd keeps for the backward pass, which is what grows with batch and image size.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

from .errors import UsageError

GIB = 1024**3
USABLE_SHARE = 0.9
"""Share of the free memory a request may plan to use (the allocator and the rest need some)."""


def free_bytes(device: str) -> int | None:
    """Memory free for a new allocation on `device`, or None where it cannot be told (e.g. MPS)."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "cpu":
        return _available_ram()
    return None


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(need: float, device: str, lower: str, what: str = "this request") -> None:
    """Raise UsageError when `need` bytes will not fit in what `device` has free.

    `lower` names the settings that shrink the need, e.g. "--size, -n or generator.cutn"."""
    free = free_bytes(device)
    if free is None or need <= free * USABLE_SHARE:
        return
    raise UsageError(
        f"{what} needs about {format_gib(need)} of memory, but {device} has {format_gib(free)} free; "
        f"lower {lower}"
    )


def format_gib(size: float) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB / 10 else f"{size / GIB:.2f} GiB"


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a device running out of memory (CUDA, MPS or the CPU allocator)."""
    if type(error).__name__ == "OutOfMemoryError" or isinstance(error, MemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def saved_activation_bytes(function: Callable[[], object], exclude: Iterable = ()) -> int:
    """Bytes of the tensors autograd saves for backward while `function()` runs, each counted
    once; tensors in `exclude` (a model's weights, say) are left out. Give inputs that require
    grad, and run it with grad enabled."""
    import torch

    excluded = {tensor.data_ptr() for tensor in exclude}
    seen: set[tuple[int, int]] = set()
    total = 0

    def pack(tensor):
        nonlocal total
        key = (tensor.data_ptr(), tensor.numel())
        if tensor.data_ptr() not in excluded and key not in seen:
            seen.add(key)
            total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return total
