"""Where work runs, as plugins see it (the public module `artengine.devices`): `--device
auto|cpu|cuda|mps` turned into a device that exists here, whether it does bfloat16 in hardware,
whether a request fits its memory (memory.py), and this process's share of a job launched on
several (launcher.py). `hardware` (the hardware in words) is the engine's own.
"""

from __future__ import annotations

from .errors import UsageError
from .launcher import Shard, current_shard
from .memory import check_fits, saved_activation_bytes

__all__ = ["Shard", "check_fits", "current_shard", "native_bf16", "resolve_device", "saved_activation_bytes"]


def resolve_device(name: str) -> str:
    """'auto' picks CUDA, then MPS, then the CPU; asking for one that is absent is an error."""
    if name == "cpu":
        return "cpu"
    try:
        import torch  # only when a device other than the CPU is wanted or possible
    except ImportError:
        if name == "auto":
            return "cpu"
        raise UsageError(f"--device {name}: PyTorch is not installed, so only --device cpu works") from None
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise UsageError("--device cuda: CUDA is not available on this machine; use --device cpu or auto")
    if name == "mps" and not mps:
        raise UsageError("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    return name


def native_bf16(device: str) -> bool:
    """Whether `device` does bfloat16 arithmetic in hardware (CUDA from Ampere on; a CPU with
    AVX512-BF16 or AMX), where it is faster than float32 rather than emulated."""
    import torch

    kind = str(device).split(":")[0]
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent in some builds
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def hardware(device: str, processes: int = 1, threads: int | None = None) -> str:
    """The hardware in words, for records of how something was made or measured (a trained
    model's config, a benchmark's report): the GPU's name, or the CPU's and the threads PyTorch
    uses (`threads`, default: its current number)."""
    import platform

    import torch

    if str(device).startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = f"CPU {platform.machine()} ({_cpu_model() or '?'}), {threads or torch.get_num_threads()} threads"
    return f"{processes} x {name}" if processes > 1 else name


def _cpu_model() -> str:
    """The CPU's name: /proc/cpuinfo's model name on Linux (platform.processor() is often empty
    or only the architecture there)."""
    import platform

    try:
        lines = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
