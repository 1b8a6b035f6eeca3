"""What each button starts: checked now (so a mistake is answered at once, beside its field),
run later by the device's worker. Each mirrors one CLI command of engine/cli_run.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artengine import UsageError, discovery
from artengine.cli_run import pixel_difference, raw_from_metadata
from artengine.compare import execute_compare, write_grid_and_report
from artengine.config import resolve
from artengine.outputs import read_png_metadata
from artengine.run import Run, execute, prepare

from .gallery import safe_path
from .jobs import Job, Jobs
from .settings import plan_configurations, plan_generate


def generate_job(form: dict[str, Any], root: Path, jobs: Jobs) -> Job:
    """`artengine generate`."""
    plan = plan_generate(form, str(root))
    name = plan.config.generator

    def work(job: Job) -> None:
        job.start_run(plan.config.out, plan.config.prompts[0].text, "generate",
                      lambda: execute(plan, job.run, job.reporter, configuration=name))

    return Job("generate", f"{name}: {plan.config.prompts[0].text}", plan.resolved["device"], work)


def compare_job(form: dict[str, Any], root: Path, jobs: Jobs) -> Job:
    """`artengine compare` with configurations and axes."""
    plans = plan_configurations(form, str(root))
    first = plans[0][1].config

    def work(job: Job) -> None:
        labels = {name: given for name, _, given in plans}
        job.start_run(first.out, f"compare-{first.prompts[0].text}", "compare",
                      lambda: execute_compare(plans, job.run, job.reporter),
                      after=lambda: write_grid_and_report(job.run, plans), document={"labels": labels})

    return Job("compare", f"compare {len(plans)}: {first.prompts[0].text}", plans[0][1].resolved["device"], work)


def reproduce_job(form: dict[str, Any], root: Path, jobs: Jobs) -> Job:
    """`artengine reproduce IMAGE`: re-run an image from its metadata and compare the pixels."""
    given = str(form.get("path", ""))
    image = safe_path(root, given)
    if image is None:
        raise UsageError(f"reproduce: no image '{given}' under the output folder")
    record = read_png_metadata(image)
    raw = raw_from_metadata(record, given) | {"out": str(root)}
    registry = discovery.host.registry
    plan = prepare(resolve(raw, registry, where=f"'{given}' metadata"), registry)
    name = record.get("configuration") if isinstance(record.get("configuration"), str) else plan.config.generator

    def work(job: Job) -> None:
        job.start_run(root, f"reproduce-{plan.config.prompts[0].text}", "reproduce",
                      lambda: execute(plan, job.run, job.reporter, configuration=name))
        difference = pixel_difference(image, job.run.images[0].path)
        job.extra.update(identical=difference == 0, max_difference=difference, original=given)

    return Job("reproduce", f"reproduce {given}", plan.resolved["device"], work)


def resume_job(form: dict[str, Any], root: Path, jobs: Jobs) -> Job:
    """`artengine generate/compare --resume RUN`: continue an interrupted run in its folder."""
    name = str(form.get("run", ""))
    folder = root / name
    if "/" in name or name in ("", ".", "..") or not folder.is_dir() or folder.is_symlink():
        raise UsageError(f"resume: no run folder '{name}' under the output folder")
    if any(j.run is not None and j.run.dir.resolve() == folder.resolve() and j.status in ("queued", "running")
           for j in jobs.all.values()):
        raise UsageError(f"resume: '{name}' is running already")
    run = Run.reopen(folder)
    registry = discovery.host.registry
    labels = run.document.get("labels", {})
    plans = [
        (config_name, prepare(resolve(dict(resolved), registry, where=f"'{name}/run.json' configuration '{config_name}'"),
                              registry), labels.get(config_name, {}))
        for config_name, resolved in run.document["configurations"].items()
    ]
    if not plans:
        raise UsageError(f"resume '{name}': its run.json records no configuration to continue")
    after = (lambda: write_grid_and_report(run, plans)) if run.document.get("kind") == "compare" else (lambda: None)

    def work(job: Job) -> None:
        job.resume_run(run, lambda: execute_compare(plans, run, job.reporter), after=after)

    job = Job("resume", f"resume {name}", plans[0][1].resolved["device"], work)
    job.run = run  # shown (and guarded against a second resume) while it waits
    return job
