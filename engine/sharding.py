"""Long jobs on several processes: each takes every N-th item, rank 0 merges and reports.

Started by `torchrun` or `accelerate launch` (which set WORLD_SIZE, RANK and LOCAL_RANK), the
processes talk over torch.distributed's gloo backend, which needs no GPU; on GPUs each takes
its own (LOCAL_RANK). `generate --prompts` and `compare` write into one run folder: rank 0
makes it and tells the others its name, each process generates, scores and saves its share of
the (configuration, prompt) pairs (a candidate's seed does not depend on the prompt's position,
so the images are those one process makes with the same seeds), and at the end rank 0 gathers
every process's records into run.json, in the order one process writes them, and reports.
`eval shapes` and the search index build share their work the same way (`current_shard()`).

A stop the user asked for (Ctrl-C reaches every process) is reported once, by rank 0.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import ArtengineError, Interrupted

if TYPE_CHECKING:
    from .jobs import Job
    from .run import Plan, Run


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
    """This process's shard when a launcher started several (WORLD_SIZE > 1), else None."""
    from .launcher import join_processes, launch_settings

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


def run_sharded(shard: Shard, job: Job, reporter, report: Callable[[Run], None]) -> Run | None:
    """`run_job` (a generate or compare) for one process of several: each takes every N-th
    (configuration, prompt) pair; rank 0 merges run.json, draws a compare's grid and reports.
    Returns the run on rank 0; raises what stopped the group."""
    from .jobs import finish
    from .run import execute

    run = job.new_run() if shard.main else None
    folder = shard.share(str(run.dir) if run else None)
    run = run or _share_of(Path(folder))
    plans = job.plans
    pairs = shard.mine([(name, number) for name, plan, _ in plans for number in range(1, len(plan.requests) + 1)])
    failure: BaseException | None = None
    try:
        for name, plan, _ in plans:
            execute(plan, run, reporter, configuration=name, numbers={n for c, n in pairs if c == name})
    except BaseException as error:  # noqa: BLE001 - every process must still reach the gather below
        failure = error
    mine = {"images": [record.as_dict(run.dir) for record in run.images], "discarded": run.document["discarded"],
            "failure": None if failure is None else (isinstance(failure, Interrupted), str(failure) or type(failure).__name__)}
    everything = shard.gather(mine)
    if shard.main:  # records how the group ended, reports it and raises its failure
        finish(run, lambda: _merge(run, plans, everything, failure), report, after=job.after_images(run))
    shard.reraise(failure)
    job.run = run if shard.main else None
    return job.run


def _share_of(run_dir: Path) -> Run:
    """The run folder rank 0 made, as another process sees it: it saves images there but
    leaves run.json, and the folder's lock, to rank 0 (which holds it for the whole group)."""
    from .run import Run
    from .run_record import RunLock

    class Share(Run):
        def save(self) -> None:
            pass

    share = Share.__new__(Share)
    share.dir, share.lock, share.images = run_dir, RunLock(None), []
    share.document = {"configurations": {}, "images": [], "discarded": []}  # only this process's part
    return share


def _merge(run: Run, plans: list[tuple[str, Plan, dict]], everything: list[dict], own: BaseException | None) -> None:
    """Every process's images into `run`, in the order one process saves them (configuration,
    then prompt, then rank); raises the group's failure, if any, for `finish` to record: a stop
    when every failed process was stopped, else rank 0's own failure, else the others'."""
    from .run import ImageRecord

    configurations = {name: index for index, (name, _, _) in enumerate(plans)}
    prompts = {prompt.text: number for number, prompt in reversed(list(enumerate(plans[0][1].config.prompts)))}
    records = [ImageRecord.from_dict(image, run.dir) for part in everything for image in part["images"]]
    run.images = sorted(records, key=lambda record: (configurations.get(record.configuration, len(configurations)),
                                                     prompts.get(record.prompt, len(prompts))))  # stable: ranks kept
    run.document["discarded"] = [item for part in everything for item in part["discarded"]]
    run.document["processes"] = len(everything)
    failures = [part["failure"] for part in everything if part["failure"]]
    if failures and all(stopped for stopped, _ in failures):
        raise Interrupted(f"stopped by the user; {len(run.images)} image(s) saved in {run.dir}")
    if own is not None:
        raise own
    if failures:
        raise ArtengineError("; ".join(dict.fromkeys(message for _, message in failures)))
