"""What each button starts: planned now by the engine's job functions (so a mistake is answered
at once, beside its field), run later by the device's worker with `artengine.jobs.run_job`, as the
CLI's generate, compare, reproduce and --resume run them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artengine import UsageError
from artengine.jobs import plan_reproduce, plan_resume

from .gallery import run_folder, safe_path
from .jobs import Jobs, QueuedJob
from .settings import plan_compare_form, plan_generate_form


def generate_job(form: dict[str, Any], root: Path, jobs: Jobs) -> QueuedJob:
    """`artengine generate`."""
    used: dict = {}
    job = plan_generate_form(form, str(root), used)
    return QueuedJob.of("generate", f"{job.configuration}: {job.prompt}", job, used)


def compare_job(form: dict[str, Any], root: Path, jobs: Jobs) -> QueuedJob:
    """`artengine compare` with configurations and axes."""
    used: dict = {}
    job = plan_compare_form(form, str(root), used)
    return QueuedJob.of("compare", f"compare {len(job.plans)}: {job.prompt}", job, used)


def reproduce_job(form: dict[str, Any], root: Path, jobs: Jobs) -> QueuedJob:
    """`artengine reproduce IMAGE`: re-run an image from its metadata and compare the pixels."""
    given = form.get("path", "")
    image = safe_path(root, given)
    if image is None:
        raise UsageError(f"reproduce: no image '{given}' under the output folder")
    return QueuedJob.of("reproduce", f"reproduce {given}", plan_reproduce(image, root, shown_as=given))


def resume_job(form: dict[str, Any], root: Path, jobs: Jobs) -> QueuedJob:
    """`artengine generate/compare --resume RUN`: continue an interrupted run in its folder."""
    name = form.get("run", "")
    folder = run_folder(root, name)
    if folder is None:
        raise UsageError(f"resume: no run folder '{name}' under the output folder")
    if any(j.run is not None and j.run.dir.resolve() == folder.resolve() and j.status in ("queued", "running")
           for j in jobs.all.values()):
        raise UsageError(f"resume: '{name}' is running already")
    return QueuedJob.of("resume", f"resume {name}", plan_resume(folder))
