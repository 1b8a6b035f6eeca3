"""Jobs: one run at a time per device, the others wait in line; each job its own run folder.

A `QueuedJob` holds the engine's planned job (`artengine.jobs.Job`) while it waits in a device's
line and runs; `artengine.jobs.run_job` runs it as the CLI does, so what lands on disk is what
`artengine generate`/`compare` write. Stop is Ctrl-C: `Reporter.request_stop()`, the generator
saves what it has, the run is marked interrupted and can be resumed.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from artengine import ArtengineError, Interrupted
from artengine.jobs import Job, ReproduceJob, Reporter, Run, run_job

from .uploads import keep

DONE = ("complete", "interrupted", "failed", "cancelled")
COMMAND = ["artengine", "ui"]
"""What a run started here records as its command: where it came from, never the server's
flags (its --auth password among them); run.json's configurations say what it ran."""


class LiveReporter(Reporter):
    """The CLI's reporter, quiet, remembering step, total and rate for the page."""

    def __init__(self):
        super().__init__(stream=io.StringIO())
        self.step = self.total = 0
        self._began: tuple[float, int] | None = None
        self.rate = 0.0

    def start(self, label: str) -> None:
        super().start(label)
        self.step = self.total = 0
        self._began = None

    def __call__(self, step: int, total: int, *args, **kwargs) -> None:
        now = time.monotonic()
        if self._began is None:
            self._began = (now, step)
        elif now > self._began[0] and step > self._began[1]:
            self.rate = (step - self._began[1]) / (now - self._began[0])
        self.step, self.total = step, total
        super().__call__(step, total, *args, **kwargs)

    def progress(self) -> dict[str, Any]:
        left = max(self.total - self.step, 0)
        eta = left / self.rate if self.rate > 0 else None
        return {"label": self.label, "step": self.step, "total": self.total,
                "rate": round(self.rate, 3), "eta_s": None if eta is None else round(eta, 1)}


WARNING = "artengine: warning: "
_thread = threading.local()


class _Tee:
    """sys.stderr, also handing what a job's thread writes to that job (`capture_output`)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        sink = getattr(_thread, "sink", None)
        if sink is not None:
            sink.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def capture_output(into: list[str]):
    """What this thread writes to stderr while inside (the engine's `warn` lines: a prompt cut
    to a model's length, a weight a generator ignores) also goes to `into`, for the page; the
    server's own stderr still gets it. Other threads' output is untouched."""
    if not isinstance(sys.stderr, _Tee):
        sys.stderr = _Tee(sys.stderr)
    _thread.sink = into
    try:
        yield
    finally:
        _thread.sink = None


@dataclass
class QueuedJob:
    """One submitted job, its place in the queue and its state for the page. `work(job)` runs in
    the device's worker thread."""

    kind: str
    title: str
    device: str
    work: Callable[["QueuedJob"], None]
    planned: Job | None = None
    id: str = ""
    status: str = "queued"
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reporter: LiveReporter = field(default_factory=LiveReporter)
    uploads: dict[str, list[Path]] = field(default_factory=dict)
    """The uploaded images the job uses, by form field: copied into its run folder."""
    output: list[str] = field(default_factory=list)
    """What the job wrote to stderr while planned and run: its warnings are shown on the page."""
    created: float = field(default_factory=time.time)

    @classmethod
    def of(cls, kind: str, title: str, planned: Job, uploads: dict[str, list[Path]] | None = None) -> "QueuedJob":
        """The engine's checked job, to be run by `artengine.jobs.run_job` as the CLI runs it."""
        planned.command = COMMAND
        return cls(kind, title, planned.device, cls._run_planned, planned, uploads=uploads or {})

    @property
    def warnings(self) -> list[str]:
        return [line.removeprefix(WARNING) for line in "".join(self.output).splitlines() if line.startswith(WARNING)]

    def _run_planned(self) -> None:
        if self.planned.run is None and self.uploads:  # made now, so the uploads are in it from the start
            run = self.planned.run = self.planned.new_run()
            try:
                keep(run, self.uploads)
            except BaseException as error:
                run.finish("failed", f"could not keep the uploaded images: {error}")
                raise
        run_job(self.planned, self.reporter)
        if isinstance(self.planned, ReproduceJob):
            self.extra.update({k: v for k, v in self.planned.result.items() if k != "reproduced"})  # no server paths

    @property
    def run(self) -> Run | None:
        """The run folder, once made (a resumed one from the start)."""
        return self.planned.run if self.planned else None

    def cancel(self) -> None:
        if self.planned:
            self.planned.cancel()  # a resumed run's folder is let go, untouched


class Jobs:
    """All jobs of this server, and a worker thread per device that runs them in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self.all: dict[str, QueuedJob] = {}
        self._queues: dict[str, deque[QueuedJob]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._wake = threading.Condition(self._lock)
        self._closing = False

    def submit(self, job: QueuedJob) -> QueuedJob:
        with self._lock:
            job.id = secrets.token_urlsafe(16)  # not guessable: another site cannot name a job to stop
            self.all[job.id] = job
            self._queues.setdefault(job.device, deque()).append(job)
            if job.device not in self._workers:
                worker = threading.Thread(target=self._work, args=(job.device,), daemon=True, name=f"ui-{job.device}")
                self._workers[job.device] = worker
                worker.start()
            self._wake.notify_all()
        return job

    def position(self, job: QueuedJob) -> int:
        """0 while running or done; else how many jobs run or wait before it on its device."""
        with self._lock:
            queue = self._queues.get(job.device, deque())
            return queue.index(job) + 1 if job in queue else 0

    def stop(self, job: QueuedJob) -> None:
        """Ctrl-C for a running job; a waiting one leaves the line without making anything."""
        with self._lock:
            queue = self._queues.get(job.device, deque())
            if job in queue:
                queue.remove(job)
                job.status = "cancelled"
                job.cancel()
                return
        job.reporter.request_stop()

    def listed(self) -> list[QueuedJob]:
        """Every job of this server, newest first."""
        with self._lock:
            return sorted(self.all.values(), key=lambda job: job.created, reverse=True)

    def stop_all(self, timeout: float = 60) -> None:
        """On shutdown: stop every job and wait, so that runs are marked interrupted, not left running."""
        for job in list(self.all.values()):
            if job.status in ("queued", "running"):
                self.stop(job)
        with self._lock:
            self._closing = True
            self._wake.notify_all()
        for worker in list(self._workers.values()):
            worker.join(timeout)

    def _work(self, device: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[device]
                while not queue and not self._closing:
                    self._wake.wait()
                if not queue:
                    return
                job = queue.popleft()
                job.status = "running"
            try:
                with capture_output(job.output):
                    job.work(job)
                job.status = "complete"
            except Interrupted:
                job.status = "interrupted"
            except ArtengineError as error:
                job.status, job.error = "failed", f"artengine: error: {error}"
            except Exception as error:  # noqa: BLE001 - the server goes on serving other jobs
                job.status, job.error = "failed", f"artengine: error: unexpected {type(error).__name__}: {error}"


def image_entries(run: Run, root: Path) -> list[dict[str, Any]]:
    """The run's saved images so far, with the URL the page loads them from."""
    base = run.dir.resolve().relative_to(root)
    return [
        {"url": f"/files/{(base / record.path.name).as_posix()}", "prompt": record.prompt, "seed": record.seed,
         "score": record.score, "rank": record.rank, "configuration": record.configuration,
         "interrupted": bool(record.metadata.get("interrupted"))}
        for record in list(run.images)
    ]


def job_state(jobs: Jobs, job: QueuedJob, root: Path) -> dict[str, Any]:
    state: dict[str, Any] = {"id": job.id, "kind": job.kind, "title": job.title, "device": job.device,
                             "status": job.status, "position": jobs.position(job), "error": job.error,
                             "progress": job.reporter.progress(), "warnings": job.warnings,
                             "created": job.created, **job.extra}
    run = job.run
    if run is not None:
        base = run.dir.resolve().relative_to(root).as_posix()
        state["run"] = base
        state["images"] = image_entries(run, root)
        previews = sorted((run.dir / "previews").glob("*.png")) if (run.dir / "previews").is_dir() else []
        state["preview"] = f"/files/{base}/previews/{previews[-1].name}" if previews else None
        if (run.dir / "grid.png").is_file():
            state["grid"] = f"/files/{base}/grid.png"
            state["report"] = f"/files/{base}/index.html"
    return state
