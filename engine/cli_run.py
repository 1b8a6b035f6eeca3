"""`artengine generate`, `compare` and `reproduce`: flags -> config -> run -> report."""

from __future__ import annotations

import contextlib
import sys

import click
from click.core import ParameterSource

from . import sharding
from .cli_group import cli, silence_stdout
from .config import core_option
from .errors import ArtengineError, UsageError
from .jobs import (
    Settings,
    plan_comparison,
    plan_generate,
    plan_reproduce,
    plan_resume,
    run_job,
)
from .progress import Reporter, emit_json, stop_on_signals
from .run import Run

LOADING = "checking the settings and loading models"
DEVICES = click.Choice(core_option("device").choices)


def default(name: str) -> str:
    """The help text's note of core setting `name`'s declared default."""
    return f"[default: {core_option(name).default}]"


def run_options(command):
    """The flags `generate` and `compare` share. Each but --json and --resume (`resume`'s) is
    the `Settings` field of its name: a new flag is declared here and as a field there, and
    nothing else lists it."""
    decorators = [
        click.argument("prompt", required=False),
        click.option("--prompts", "prompts_file", type=click.Path(), help="File with one prompt per line."),
        click.option("-n", "n", type=int, help=f"Candidates per prompt.  {default('n')}"),
        click.option("--keep", type=int, help="Keep the best K candidates, ranked by the scorer."),
        click.option("--scorer", help="Scorer ranking the candidates (see `artengine list scorers`)."),
        click.option("--seed", type=int, help="Base seed; candidate i gets seed+i. Drawn when absent."),
        click.option("--size", help="Image size WxH, e.g. 256x256.  [default: the generator's]"),
        click.option("--device", type=DEVICES, help=default("device")),
        click.option("--config", "config_file", type=click.Path(), help="TOML file with any of these settings."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override one config key, e.g. generator.steps=50 (repeatable)."),
        click.option("--loss", "losses", multiple=True, metavar="NAME[:WEIGHT]",
                     help="Add a loss term, e.g. tv:0.1 (repeatable; see `artengine list losses`)."),
        click.option("--out", help=f"Folder for run folders.  {default('out')}"),
        click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
        click.option("--resume", "resume_dir", type=click.Path(),
                     help="Continue an interrupted run in its folder (other settings come from its run.json)."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def summary(as_json: bool):
    """How a finished run is reported: the JSON document, or one line per image."""

    def report(run: Run) -> None:
        with saved_if_stdout_fails(run):
            if as_json:
                emit_json(run.summary())
                return
            for record in run.images:
                score = "" if record.score is None else f"  score {record.score:.4f}"
                click.echo(f"{record.path}  seed {record.seed}  rank {record.rank}{score}")
        click.echo(f"{len(run.images)} image(s) in {run.dir} ({run.document['status']})", err=True)

    return report


@contextlib.contextmanager
def saved_if_stdout_fails(run: Run):
    """Report a stdout that cannot be written (`> /dev/full`, a closed pipe) after the run has
    ended as one error line that says what was saved."""
    try:
        yield
        sys.stdout.flush()
    except OSError as error:
        silence_stdout()
        raise ArtengineError(f"cannot write to standard output ({error.strerror or error}); the run itself is "
                             f"{run.document['status']}: {len(run.images)} image(s) saved in {run.dir}") from None


@cli.command()
@run_options
@click.option("-g", "--generator", help="Generator to use (see `artengine list generators`).")
def generate(resume_dir, as_json, **settings):
    """Make images from PROMPT (`text:weight|other text:-1`) or from --prompts FILE."""
    if resume_dir:
        return resume(resume_dir, as_json)
    settings = Settings(**settings)  # each flag is the Settings field of its name
    reporter = Reporter()
    shard = sharding.current_shard()  # several processes (torchrun, accelerate launch): a share of the prompts each
    with reporter.busy(LOADING):  # generators check their models (loading them) here
        job = plan_generate(settings)
    with stop_on_signals(reporter):
        if shard is not None:
            return sharding.run_sharded(shard, job, reporter, summary(as_json))
        run_job(job, reporter, summary(as_json))


@cli.command()
@run_options
@click.option("-g", "--generator", "generators", multiple=True, help="A configuration per generator (repeatable).")
@click.option("--axis", "axes", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a key over every configuration, e.g. generator.steps=10,50 (repeatable).")
def compare(resume_dir, as_json, **settings):
    """Run several configurations on the same prompts and seeds; write grid.png and index.html."""
    if resume_dir:
        return resume(resume_dir, as_json)
    settings = Settings(**settings)  # each flag is the Settings field of its name
    reporter = Reporter()
    shard = sharding.current_shard()  # several processes: a share of the (configuration, prompt) pairs each
    with reporter.busy(LOADING):
        job = plan_comparison(settings)
    with stop_on_signals(reporter):
        if shard is not None:
            run = sharding.run_sharded(shard, job, reporter, summary(as_json))
            if run is None:
                return  # rank 0 reports
        else:
            run = run_job(job, reporter, summary(as_json))
    if not as_json:
        click.echo(f"grid: {run.dir / 'grid.png'}\nreport: {run.dir / 'index.html'}", err=True)


def resume(run_dir, as_json: bool) -> None:
    """Continue an interrupted generate or compare run in its own folder, from its run.json.

    Any other flag of the command given with --resume is refused: every flag but these two is
    a setting, and the run's settings are those its run.json records. The flags are read from
    the command itself, so that a new one is refused too, never silently dropped."""
    context = click.get_current_context()
    given = [max(param.opts, key=len) if isinstance(param, click.Option) else param.human_readable_name
             for param in context.command.params
             if param.name not in ("resume_dir", "as_json")
             and context.get_parameter_source(param.name) is not ParameterSource.DEFAULT]

    def refuse() -> None:
        if given:
            raise UsageError(f"--resume takes no other settings: they come from '{run_dir}/run.json' "
                             f"(given: {', '.join(given)})")

    reporter = Reporter()
    with reporter.busy(LOADING):
        job = plan_resume(run_dir, refuse)
    with stop_on_signals(reporter):
        run_job(job, reporter, summary(as_json))


@cli.command()
@click.argument("image", type=click.Path())
@click.option("--out", help=f"Folder for the new run folder.  {default('out')}")
@click.option("--device", type=DEVICES, help="[default: the device recorded in the image]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def reproduce(image, out, device, as_json):
    """Re-run IMAGE.png from its metadata and say whether the new image is identical.

    Exits 0 when the pixels match, 1 when they differ."""
    reporter = Reporter()
    with reporter.busy(LOADING):
        job = plan_reproduce(image, out, device)
    with stop_on_signals(reporter):
        run = run_job(job, reporter)
    result = job.result
    with saved_if_stdout_fails(run):
        if as_json:
            emit_json({key: result[key] for key in ("identical", "max_difference", "original", "reproduced")})
        else:
            same = "identical" if result["identical"] else f"different (largest pixel difference {result['max_difference']})"
            click.echo(f"{same}: {run.images[0].path} vs {image}")
    return 0 if result["identical"] else 1
