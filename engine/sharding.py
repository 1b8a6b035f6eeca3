"""Long jobs on several processes: each takes every N-th item, rank 0 merges and reports.

Started by `torchrun` or `accelerate launch` (which set WORLD_SIZE, RANK and LOCAL_RANK), the
processes talk over torch.distributed's gloo backend, which needs no GPU; on GPUs each takes
its own (LOCAL_RANK). `generate --prompts` and `compare` write into one run folder: rank 0
makes it and tells the others its name, each process generates, scores and saves its share of
the (configuration, prompt) pairs (a candidate's seed does not depend on the prompt's position,
so the images are those one process makes with the same seeds), and at the end rank 0 gathers
every process's records into run.json, in the order one process writes them, and reports.
`eval shapes` and the search index build share their work the same way (`current_shard()`, in launcher.py).

A stop the user asked for (Ctrl-C reaches every process) is reported once, by rank 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .errors import ArtengineError, Interrupted
from .jobs import Job, finish
from .launcher import Shard, current_shard  # noqa: F401 - the CLI asks this module for its shard
from .outputs import FolderLock
from .run import ImageRecord, Plan, Run, execute


def run_sharded(shard: Shard, job: Job, reporter, report: Callable[[Run], None]) -> Run | None:
    """`run_job` (a generate or compare) for one process of several: each takes every N-th
    (configuration, prompt) pair; rank 0 merges run.json, draws a compare's grid and reports.
    Returns the run on rank 0; raises what stopped the group."""
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
    class Share(Run):
        def save(self) -> None:
            pass

    share = Share.__new__(Share)
    share.dir, share.lock, share.images = run_dir, FolderLock(None), []
    share.document = {"configurations": {}, "images": [], "discarded": []}  # only this process's part
    return share


def _merge(run: Run, plans: list[tuple[str, Plan, dict]], everything: list[dict], own: BaseException | None) -> None:
    """Every process's images into `run`, in the order one process saves them (configuration,
    then prompt, then rank); raises the group's failure, if any, for `finish` to record: a stop
    when every failed process was stopped, else rank 0's own failure, else the others'."""
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
