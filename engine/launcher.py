"""The launcher's variables (torchrun, accelerate launch), checked before any process waits on them.

A launcher tells each process its place in the environment: WORLD_SIZE processes, this one's
RANK (and LOCAL_RANK on its machine), rank 0's MASTER_ADDR and MASTER_PORT. Left over in a
shell, or mistyped, they would make a command wait for processes that never come (torch's
rendezvous waits as long as its collectives: hours) or end in a library's traceback. So
`launch_settings()` checks them all and names the wrong one in one line, and `join_processes()`
meets the other processes within a short, configurable time (ARTENGINE_RENDEZVOUS_TIMEOUT
seconds), before the process group takes over with the long patience that a rank waiting at a
barrier for rank 0 (building a cache, say) needs. `current_shard()` gives a process of such
a launch its `Shard`: its rank, and the few collective steps that jobs shared among the
processes need (`eval shapes`, the search index build, `generate --prompts` in sharding.py).
"""

from __future__ import annotations

import atexit
import datetime
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import Interrupted, UsageError, quote

TIMEOUT_VARIABLE = "ARTENGINE_RENDEZVOUS_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
PATIENCE = datetime.timedelta(hours=6)  # collectives: rank 0 may prepare data for hours while the others wait
FIX = "unset it, or start the command with `torchrun` or `accelerate launch`, which set it"


@dataclass(frozen=True)
class Launch:
    world_size: int
    rank: int
    local_rank: int
    address: str
    port: int


def _wrong(name: str, value: str, problem: str) -> UsageError:
    return UsageError(f"the environment variable {name}={quote(value)} {problem}; {FIX}")


def _whole(name: str, low: int, high: int | None = None) -> int | None:
    if name not in os.environ:
        return None
    value = os.environ[name].strip()
    if not value:
        raise _wrong(name, os.environ[name], "is empty")
    if not value.isascii() or not value.isdigit():
        raise _wrong(name, os.environ[name], "is not a whole number")
    number = int(value)
    if number < low or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise _wrong(name, os.environ[name], f"is out of range (it must be {span})")
    return number


def launch_settings() -> Launch | None:
    """The launcher's settings when it started several processes (WORLD_SIZE > 1), None for
    one process; raises UsageError naming the first wrong variable."""
    world = _whole("WORLD_SIZE", 1) or 1
    rank = _whole("RANK", 0)
    local = _whole("LOCAL_RANK", 0)
    port = _whole("MASTER_PORT", 1, 65535)
    for name, number in (("RANK", rank), ("LOCAL_RANK", local)):
        if number is not None and number >= world:
            raise _wrong(name, os.environ[name], f"is beyond the {world} process(es) that WORLD_SIZE="
                         f"{os.environ.get('WORLD_SIZE', '')!r} asks for (ranks run from 0 to {world - 1})")
    if "WORLD_SIZE" not in os.environ:
        for name in ("RANK", "LOCAL_RANK"):  # accelerate takes a LOCAL_RANK alone for a launch
            if name in os.environ:
                raise _wrong(name, os.environ[name], "is set but WORLD_SIZE is not (a leftover from a launcher?)")
    if world == 1:
        return None
    address = os.environ.get("MASTER_ADDR", "").strip()
    for name, missing in (("RANK", rank is None), ("MASTER_ADDR", not address), ("MASTER_PORT", port is None)):
        if missing:
            raise UsageError(f"the environment variable WORLD_SIZE={os.environ['WORLD_SIZE']!r} asks for several "
                             f"processes, but {name} is not set; unset WORLD_SIZE, or start the command with "
                             "`torchrun` or `accelerate launch`, which set both")
    return Launch(world, rank, rank if local is None else local, address, port)


@dataclass(frozen=True)
class Shard:
    """This process's place among the processes of a launch: rank `rank` of `size`."""

    rank: int
    size: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mine(self, items: list) -> list:
        return items[self.rank :: self.size]

    def share(self, value: Any) -> Any:
        """Rank 0's `value`, on every process."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list:
        """Every process's `value`, in rank order, on every process."""
        import torch.distributed as dist

        values: list = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def reraise(self, failure: BaseException | None) -> None:
        """Raise what stopped this process. A stop the user asked for is rank 0's to report:
        the other processes exit with its status (130) without a line of their own."""
        if failure is None:
            return
        if isinstance(failure, Interrupted) and not self.main:
            import click

            raise click.exceptions.Exit(failure.exit_code) from failure
        raise failure


def current_shard() -> Shard | None:
    """This process's shard when a launcher started several (WORLD_SIZE > 1), else None: the
    processes joined over torch.distributed's gloo backend (no GPU needed), each on its own GPU
    where there are GPUs (LOCAL_RANK)."""
    if launch_settings() is None:
        return None
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():  # the launcher's MASTER_ADDR/PORT, RANK and WORLD_SIZE, checked
        launch = join_processes("gloo")
        atexit.register(_close)
        if torch.cuda.is_available():  # 'cuda' then means this process's own GPU
            torch.cuda.set_device(launch.local_rank % torch.cuda.device_count())
    return Shard(dist.get_rank(), dist.get_world_size())


def _close() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def rendezvous_timeout() -> float:
    """Seconds to wait for the other processes to start (ARTENGINE_RENDEZVOUS_TIMEOUT)."""
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < 10**7:  # also nan
        raise UsageError(f"the environment variable {TIMEOUT_VARIABLE}={quote(os.environ[TIMEOUT_VARIABLE])} is not "
                         f"a number of seconds; unset it (default {DEFAULT_TIMEOUT_S:g}) or give one such as 60")
    return seconds


def join_processes(backend: str) -> Launch | None:
    """Join the other processes of a launch into torch.distributed's process group (`backend`:
    gloo, nccl), unless already joined; None for one process. Raises UsageError in one line
    when the variables are wrong or a process does not come within the rendezvous timeout."""
    launch = launch_settings()
    if launch is None:
        return None
    import torch.distributed as dist

    if dist.is_initialized():
        return launch
    store = _meet(launch, rendezvous_timeout())
    store.set_timeout(PATIENCE)  # all are here: from now on a wait is the work's, not a missing process's
    dist.init_process_group(backend, store=store, rank=launch.rank, world_size=launch.world_size, timeout=PATIENCE)
    return launch


def _meet(launch: Launch, seconds: float):
    """rank 0's store (served by rank 0, or by torchrun's agent), once every rank has checked in."""
    import torch.distributed as dist

    timeout = datetime.timedelta(seconds=seconds)
    where = f"MASTER_ADDR:MASTER_PORT={launch.address}:{launch.port}"
    # torchrun's agent already serves the store at the address it exported (torch's own rule)
    agent = (os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
             and os.environ.get("MASTER_ADDR") == launch.address and os.environ.get("MASTER_PORT") == str(launch.port))
    serve = launch.rank == 0 and not agent
    if not serve and not _answers(launch.address, launch.port, seconds):  # torch's own retries log pages of C++
        raise UsageError(f"no rank 0 answered at {where} within {seconds:g} s: WORLD_SIZE={launch.world_size} asks "
                         f"for {launch.world_size} processes; start them all with `torchrun` or `accelerate launch`, "
                         f"or unset WORLD_SIZE for one process (wait longer with {TIMEOUT_VARIABLE})")
    try:
        store = dist.TCPStore(launch.address, launch.port, launch.world_size, is_master=serve, timeout=timeout,
                              wait_for_workers=False, multi_tenant=True)
    except (RuntimeError, OSError, ValueError) as error:  # DistNetworkError, DistStoreError...
        problem = "could not listen" if serve else "could not reach rank 0"
        raise UsageError(f"rank {launch.rank} {problem} at {where} ({_first_line(error)}); choose another "
                         "MASTER_PORT (torchrun --master_port), or unset WORLD_SIZE for one process") from None
    keys = [f"artengine/joined/{rank}" for rank in range(launch.world_size)]
    store.set(keys[launch.rank], "1")
    deadline = time.monotonic() + seconds
    while not store.check(keys):  # polled: torch's store.wait logs its timeouts in C++ lines
        if time.monotonic() >= deadline:
            missing = ", ".join(str(rank) for rank, key in enumerate(keys) if not store.check([key]))
            raise UsageError(f"rank(s) {missing} of WORLD_SIZE={launch.world_size} did not start within {seconds:g} s; "
                             "start them all with `torchrun` or `accelerate launch`, or unset WORLD_SIZE for one "
                             f"process (wait longer with {TIMEOUT_VARIABLE})")
        time.sleep(0.1)
    return store


def _answers(address: str, port: int, seconds: float) -> bool:
    """Whether something listens at address:port within `seconds` (rank 0 may start later)."""
    import socket

    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection((address, port), timeout=max(0.1, min(1.0, deadline - time.monotonic()))).close()
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


@contextmanager
def accelerate_settings() -> Iterator[None]:
    """Around making accelerate's Accelerator: a refusal of the ACCELERATE_* variables (say
    ACCELERATE_MIXED_PRECISION=foo) becomes one line naming those that are set."""
    try:
        yield
    except (ValueError, ImportError, TypeError, KeyError) as error:
        named = sorted(name for name in os.environ if name.startswith("ACCELERATE_"))
        if not named:
            raise
        settings = ", ".join(f"{name}={quote(os.environ[name], 30)}" for name in named)
        raise UsageError(f"accelerate refused the settings in the environment ({settings}): {_first_line(error)}; "
                         "unset them, or start the command with `accelerate launch`") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__
