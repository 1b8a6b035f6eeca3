"""`generate` on several processes: each takes every N-th prompt, all write into one run folder.

Started by `torchrun` or `accelerate launch` (which set WORLD_SIZE and RANK), the processes
talk over torch.distributed's gloo backend, which needs no GPU. Rank 0 makes the run folder and
tells the others its name; each process generates, scores and saves its share of the prompts
(a candidate's seed does not depend on the prompt's position, so the images are those one
process makes with the same seeds); at the end rank 0 gathers every process's records into
run.json, in prompt order, and reports. Only rank 0 writes run.json.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .run import Interrupted, Plan, Run, execute


@dataclass(frozen=True)
class Shard:
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


def current() -> Shard | None:
    """This process's shard when a launcher started several (WORLD_SIZE > 1), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():  # the launcher's MASTER_ADDR/PORT, RANK and WORLD_SIZE
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=6))
    return Shard(dist.get_rank(), dist.get_world_size())


class _Share(Run):
    """A run folder that rank 0 made, as another process sees it: it saves images there but
    leaves run.json, and the folder's lock, to rank 0 (which holds it for the whole group)."""

    @classmethod
    def join(cls, run_dir: Path) -> "_Share":
        from .run_record import RunLock

        share = cls.__new__(cls)
        share.dir, share.lock, share.images = run_dir, RunLock(None), []
        share.document = {"configurations": {}, "images": [], "discarded": []}  # only this process's part
        return share

    def save(self) -> None:
        pass


def generate_sharded(shard: Shard, plan: Plan, reporter, report: Callable[[Run], None], configuration: str) -> None:
    """`generate` for one process of several; raises what stopped this process, after rank 0
    has recorded every process's images."""
    run = Run(plan.config.out, plan.config.prompts[0].text, kind="generate") if shard.main else None
    folder = shard.share(str(run.dir) if run else None)
    if run is None:
        run = _Share.join(Path(folder))
    failure: BaseException | None = None
    try:
        execute(replace(plan, requests=shard.mine(plan.requests)), run, reporter, configuration=configuration)
    except BaseException as error:  # noqa: BLE001 - every process must still reach the gather below
        failure = error
    mine = {"images": [record.as_dict(run.dir) for record in run.images], "discarded": run.document["discarded"],
            "failure": None if failure is None else (isinstance(failure, Interrupted), str(failure) or type(failure).__name__)}
    everything = shard.gather(mine)
    if shard.main:
        _merge(run, plan, everything)
        report(run)
    if failure is not None:
        raise failure


def _merge(run: Run, plan: Plan, everything: list[dict]) -> None:
    from .run import ImageRecord

    order = {prompt.text: number for number, prompt in reversed(list(enumerate(plan.config.prompts)))}
    records = [ImageRecord.from_dict(image, run.dir) for part in everything for image in part["images"]]
    run.images = sorted(records, key=lambda record: order.get(record.prompt, len(order)))  # stable: ranks kept
    run.document["discarded"] = [item for part in everything for item in part["discarded"]]
    run.document["processes"] = len(everything)
    failures = [part["failure"] for part in everything if part["failure"]]
    if not failures:
        run.finish("complete")
    else:
        interrupted = all(stopped for stopped, _ in failures)
        run.finish("interrupted" if interrupted else "failed", "; ".join(message for _, message in failures))
