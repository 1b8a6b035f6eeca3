"""Whole jobs, as `artengine generate`, `compare`, `reproduce` and `--resume` run them.

Each is two steps: a `plan_*` function turns what the user gave into a job of its kind
(`GenerateJob`, `CompareJob`, `ReproduceJob`, `ResumeJob`: every setting checked, models loaded,
nothing written yet), and `run_job` runs it into a run folder (images, PNG metadata, run.json
and its final status). The command line and the web UI both call these, so that a run
started anywhere is the same run.

This is the public module `artengine.jobs`, the embedding API: what the web UI, scripts and a
plugin's own commands call (`__all__`, with the names of the run machinery they need beside
the jobs': `Plan`, `Run`, `generate_ranked`, `CORE_OPTIONS`, the progress `Reporter`,
`stop_on_signals` and `emit_json`). docs/plugins.md ("The engine API") says what each is for.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from . import discovery
from .compare import configurations, write_grid_and_report
from .compare import plan_compare as _plan_configurations
from .config import CORE_OPTIONS, apply_set, merge, read_config_file, resolve
from .defaults import PROMPT_KEYS, layered
from .devices import resolve_device
from .errors import ArtengineError, UsageError, quote
from .images import open_image
from .infotext import read_png_metadata
from .invocation import recording
from .progress import Reporter, emit_json, stop_on_signals
from .registry import Registry
from .run import Interrupted, Plan, Run, draw_seed, execute, generate_ranked, prepare
from .run_record import SEED_LIMIT
from .safe_io import IMAGE_LIMIT, read_user_file

__all__ = [
    # what a user gives, checked
    "CORE_OPTIONS",
    "Settings",
    "check_settings",
    # planned jobs, and running them
    "CompareJob",
    "GenerateJob",
    "Job",
    "ReproduceJob",
    "ResumeJob",
    "plan_comparison",
    "plan_generate",
    "plan_reproduce",
    "plan_resume",
    "run_job",
    # their parts: one configuration's plan, a run folder, one request's ranked candidates
    "Plan",
    "Run",
    "generate_ranked",
    # a command's progress, stopping and --json output
    "Reporter",
    "emit_json",
    "stop_on_signals",
]


@dataclass
class Settings:
    """A generate's or compare's settings as a user gives them; None (or empty) means not given.

    They apply over the defaults as `defaults.layered` says: `config_file`, then the fields
    named after a config key (`flags()`), then `losses`, then `sets`.
    """

    prompt: str | None = None
    prompts: Sequence[str] | None = None
    prompts_file: str | None = None
    generator: str | None = None
    """generate: the generator (compare takes `generators` or `configurations`)."""
    n: int | None = None
    keep: int | None = None
    scorer: str | None = None
    seed: int | None = None
    size: str | None = None
    device: str | None = None
    out: str | None = None
    losses: Sequence[str] = ()
    """`NAME[:WEIGHT]` each, as `--loss` takes them."""
    sets: Sequence[str] = ()
    """`KEY=VALUE` each, as `--set` takes them (`generator.steps=50`)."""
    config_file: str | None = None
    generators: Sequence[str] = ()
    """compare: one configuration per generator named, as `compare -g NAME` (repeatable)."""
    configurations: dict[str, Sequence[str]] | None = None
    """compare: named configurations, each as `KEY=VALUE` assignments (`generator=dalle`,
    `generator.top_k=8`); added to the config file's `[configurations.NAME]` tables."""
    axes: Sequence[str] = ()
    """compare: `KEY=V1,V2` sweeps over every configuration, as `--axis`."""

    def flags(self) -> dict[str, Any]:
        """The fields named after a config key (the prompt, `n`, `seed`, `generator`, ...) that
        were given, as a config layer."""
        keys = {option.name for option in CORE_OPTIONS} | {"generator", "scorer"}
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.name in keys}
        return {key: list(value) if key == "prompts" else value for key, value in given.items() if value is not None}


class Job:
    """A checked job: its configurations resolved, their models loaded, nothing written yet.

    One class per kind, each with only its own fields: `GenerateJob`, `CompareJob`,
    `ReproduceJob` and `ResumeJob`, made by the `plan_*` functions and run by `run_job`.
    """

    kind: ClassVar[str]
    """What the new run's run.json records as its kind."""
    plans: list[tuple[str, Plan, dict[str, Any]]]
    """(configuration name, its plan, the options it was given), run in this order."""
    run: Run | None = None
    """The run folder: a resumed one from the start, else made by `run_job`."""
    command: list[str] | None = None
    """The command the new run's run.json records; default: this process's (`artengine
    generate ...`). The web UI gives its own, so that the server's flags are never recorded."""

    @property
    def device(self) -> str:
        return self.plans[0][1].resolved["device"]

    @property
    def prompt(self) -> str:
        return self.plans[0][1].config.prompts[0].text

    @property
    def label(self) -> str:
        """What names the new run folder."""
        return self.prompt

    def new_run(self) -> Run:
        """The job's run folder, made now under the configuration's `out`, its run.json begun."""
        with recording(self.command):
            return Run(Path(self.plans[0][1].config.out), self.label, kind=self.kind)

    def execute(self, run: Run, progress: Reporter) -> None:
        """Generate and save every configuration's images into `run`, one after the other."""
        for name, plan, _ in self.plans:
            execute(plan, run, progress, configuration=name)

    def after_images(self, run: Run) -> Callable[[str], None]:
        """What follows the images, also after a failure, given the status the run ends with."""
        return lambda status: None

    def finished(self, run: Run) -> None:
        """What follows a run that ended well."""

    def cancel(self) -> None:
        """Let go of a job that will not run."""


@dataclass
class GenerateJob(Job):
    """`artengine generate`: one configuration, named after its generator."""

    kind: ClassVar[str] = "generate"
    plan: Plan

    @property
    def configuration(self) -> str:
        return self.plan.config.generator

    @property
    def plans(self) -> list[tuple[str, Plan, dict[str, Any]]]:
        return [(self.configuration, self.plan, {})]

    def execute(self, run: Run, progress: Reporter) -> None:
        execute(self.plan, run, progress, configuration=self.configuration)


@dataclass
class CompareJob(Job):
    """`artengine compare`: several configurations on the same prompts and seeds, then a grid
    and a report."""

    kind: ClassVar[str] = "compare"
    plans: list[tuple[str, Plan, dict[str, Any]]]

    @property
    def label(self) -> str:
        return f"compare-{self.prompt}"

    def new_run(self) -> Run:
        run = super().new_run()
        run.document["labels"] = {name: given for name, _, given in self.plans}
        return run

    def after_images(self, run: Run) -> Callable[[str], None]:
        return lambda status: write_grid_and_report(run, self.plans, status)


@dataclass
class ReproduceJob(Job):
    """`artengine reproduce IMAGE`: the image's recorded settings run again, and the pixels
    compared once the run has ended (`result`)."""

    kind: ClassVar[str] = "reproduce"
    plan: Plan
    configuration: str
    """The configuration name the image records."""
    original: Path
    """The image remade."""
    shown_as: str
    """How the image is named to the user (its path, or what the web UI calls it)."""
    result: dict[str, Any] = field(default_factory=dict)
    """Once run: identical, max_difference, original (as shown), reproduced."""

    @property
    def plans(self) -> list[tuple[str, Plan, dict[str, Any]]]:
        return [(self.configuration, self.plan, {})]

    @property
    def label(self) -> str:
        return f"reproduce-{self.prompt}"

    def execute(self, run: Run, progress: Reporter) -> None:
        execute(self.plan, run, progress, configuration=self.configuration)

    def finished(self, run: Run) -> None:
        difference = pixel_difference(self.original, run.images[0].path)
        self.result = {"identical": difference == 0, "max_difference": difference, "original": self.shown_as,
                       "reproduced": str(run.images[0].path.resolve())}


@dataclass
class ResumeJob(Job):
    """`--resume RUN`: an interrupted generate or compare continued in its own folder, which is
    locked from planning on (`cancel` lets go)."""

    kind: ClassVar[str] = "resume"
    plans: list[tuple[str, Plan, dict[str, Any]]]
    run: Run = field()  # required here: a bare annotation would take Job's class default (None)

    def after_images(self, run: Run) -> Callable[[str], None]:
        if run.document.get("kind") != "compare":
            return lambda status: None
        return lambda status: write_grid_and_report(run, self.plans, status)

    def cancel(self) -> None:
        """The reopened run folder is unlocked, untouched."""
        self.run.lock.release()


def check_settings(settings: Settings) -> dict[str, Any]:
    """The settings checked (no model loaded) in the canonical form run.json records, with the
    seed drawn when none was given; UsageError names what is wrong."""
    registry = _registry()
    return resolve(_generate_raw(settings, registry), registry, where="settings").as_dict()


def plan_generate(settings: Settings) -> GenerateJob:
    """`artengine generate`: check everything and load the models; nothing is written yet."""
    registry = _registry()
    return GenerateJob(prepare(resolve(_generate_raw(settings, registry), registry, where="settings"), registry))


def plan_comparison(settings: Settings) -> CompareJob:
    """`artengine compare`: each configuration checked and its models loaded, on the same prompts and seeds."""
    registry = _registry()
    file_raw = read_config_file(settings.config_file) if settings.config_file else {}
    named = file_raw.pop("configurations", {})
    if settings.configurations and isinstance(named, dict):  # else configurations() says what is wrong
        named = named | {name: _table(assignments) for name, assignments in settings.configurations.items()}
    tables = named.values() if isinstance(named, dict) else []
    chosen = _chosen_generator(*settings.generators, file_raw.get("generator"),
                               *(table.get("generator") for table in tables if isinstance(table, dict)))
    flags = settings.flags()
    flags.pop("generator", None)  # a compare's generators are its configurations'
    raw = _with_seed(layered(registry, file_raw, flags, settings.losses, chosen=chosen))
    where = f"config file '{settings.config_file}'" if settings.config_file else "settings"
    pairs = configurations(raw, named, list(settings.generators), list(settings.axes), where=where,
                           sets=list(settings.sets), registry=registry)
    for _, config in pairs:  # `seed = -1` ("draw one") in a configuration's table, --set or --axis
        if config.get("seed") == -1:
            config["seed"] = raw["seed"]  # the one drawn for all: every configuration gets the same seeds
    source = f"config file '{settings.config_file}', " if settings.config_file else ""
    return CompareJob(_plan_configurations(pairs, registry, source))


def plan_reproduce(image: str | Path, out: str | Path | None = None, device: str | None = None,
                   shown_as: str | None = None) -> ReproduceJob:
    """`artengine reproduce IMAGE`: the settings IMAGE's metadata records, checked, on `device`
    (default: the one recorded), into `out` (default: the `out` setting's declared default,
    never the metadata's or a config file's). Errors name the image as `shown_as` (default:
    its path)."""
    shown = shown_as or str(image)
    record = read_png_metadata(image)
    raw = raw_from_metadata(record, shown)
    if device:
        raw["device"] = device
    elif isinstance(raw.get("device"), str):
        _check_recorded_device(raw["device"], shown)
    if out is not None:
        raw["out"] = str(out)
    registry = _registry()
    with _in_metadata_terms(shown, flags_given={"--device"} if device else set()):
        plan = prepare(resolve(raw, registry, where=f"'{shown}' metadata"), registry)
    name = record.get("configuration") if isinstance(record.get("configuration"), str) else plan.config.generator
    return ReproduceJob(plan, name, Path(image), shown)


def plan_resume(run_dir: str | Path, refuse: Callable[[], None] = lambda: None) -> ResumeJob:
    """Continue an interrupted generate or compare run in its own folder, from its run.json.

    The folder is locked from now on (`ResumeJob.cancel` lets go); it is marked running only when
    the job runs. `refuse()`, called once the folder is known to be a run's, may raise to
    refuse the job (the command line: other settings given)."""
    run = Run.reopen(run_dir)  # first: a wrong folder is the more basic mistake
    try:
        refuse()
        registry = _registry()
        labels = run.document.get("labels", {})
        plans = [
            (name, prepare(resolve(dict(resolved), registry,
                                   where=f"'{run.dir / 'run.json'}' configuration {quote(name)}"),
                           registry), labels.get(name, {}))
            for name, resolved in run.document["configurations"].items()
        ]
        if not plans:
            raise UsageError(f"--resume '{run_dir}': its run.json records no configuration to continue")
    except BaseException:
        run.lock.release()  # the folder is left as it was, for another try
        raise
    return ResumeJob(plans, run)


def run_job(job: Job, progress: Reporter, report: Callable[[Run], None] = lambda run: None) -> Run:
    """Run `job` into its run folder (made now, or the resumed one), with `progress` as every
    generator's callback: `progress.request_stop()` is Ctrl-C (what exists is saved, the run is
    marked interrupted and can be resumed, and Interrupted is raised). run.json records how the
    run ended; `report(run)` is then called, also after a failure, which is raised again."""
    if job.run is None:
        job.run = job.new_run()
    else:
        job.run.save()  # a resumed run is marked running only now
    run = job.run
    finish(run, lambda: job.execute(run, progress), report, after=job.after_images(run))
    job.finished(run)
    return run


def finish(run: Run, action, report, after=lambda status: None) -> None:
    """Run `action`, call `after`, record how it ended in run.json, report; re-raise any failure.

    The command line calls it inside `stop_on_signals`, entered before the run folder is made,
    so that a Ctrl-C at any moment finds the handler in place. `after(status)` (the grid and
    report of a compare) runs before run.json is finished, also after a failure, and is told
    the status the run ends with (a report written then must not say 'running'); a failure of
    its own makes that 'failed'. The first failure is what is reported.
    """
    failure: BaseException | None = None
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - recorded in run.json, then raised again
        failure = error
    try:
        after(_ending(failure))
    except Exception as error:  # noqa: BLE001
        failure = failure or error
    if failure is None:
        run.finish("complete")
    else:
        run.finish(_ending(failure), str(failure) or type(failure).__name__)
    try:
        report(run)
    except ArtengineError:
        if failure is None:
            raise
    if failure is not None:
        raise failure


def _ending(failure: BaseException | None) -> str:
    """The status a run ends with after `failure` (None: none)."""
    if failure is None:
        return "complete"
    return "interrupted" if isinstance(failure, Interrupted) else "failed"


def _registry() -> Registry:
    return discovery.host.registry  # what the command line loaded (its --plugins-dir too)


def _generate_raw(settings: Settings, registry: Registry) -> dict[str, Any]:
    file_raw = read_config_file(settings.config_file) if settings.config_file else {}
    if file_raw:
        _check_file(file_raw, settings.config_file, settings.generator, registry)
    chosen = _chosen_generator(settings.generator, file_raw.get("generator"))
    return _with_seed(layered(registry, file_raw, settings.flags(), settings.losses, settings.sets, chosen=chosen))


def _with_seed(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with a seed drawn when none is set: drawn up front so that it is recorded, and
    shared by a compare's configurations."""
    if raw.get("seed", -1) == -1:
        raw["seed"] = draw_seed()
    return raw


def _table(assignments: Sequence[str]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for assignment in assignments:
        apply_set(table, assignment)
    return table


def _chosen_generator(*choices) -> dict:
    """The first generator the command line or its --config file picks, as a settings table."""
    return next(({"generator": choice} for choice in choices if choice is not None), {})


def _check_file(file_raw: dict, path, generator, registry: Registry) -> None:
    """Report mistakes inside the config file with the file's name (before merging flags)."""
    raw = merge(file_raw, {"generator": generator} if generator else {})
    if "generator" in raw:
        resolve(raw, registry, where=f"config file '{path}'")


# The flags whose settings a PNG's metadata supplies to `reproduce`: an error about one of them
# names the metadata key, since the user typed no such flag.
METADATA_KEYS = {"--seed": "seed", "--size": "size", "--device": "device", "-n": "n", "--keep": "keep",
                 "--scorer": "scorer", "--loss": "losses", "-g": "generator", "--generator": "generator",
                 "--prompts": "prompts_file", "--set": "config", "--config": "config"}
_FLAG = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, METADATA_KEYS), key=len, reverse=True)) + r")(?![\w-])")


@contextlib.contextmanager
def _in_metadata_terms(image, flags_given: set[str]):
    """Re-raise a UsageError about settings read from `image`'s metadata with the metadata key
    named instead of a command-line flag the user never typed (those in `flags_given` stay)."""
    try:
        yield
    except UsageError as error:
        message = str(error)

        def key(match: re.Match) -> str:
            flag = match.group(1)
            return flag if flag in flags_given else f"metadata key '{METADATA_KEYS[flag]}'"

        rewritten = _FLAG.sub(key, message)
        if not rewritten.startswith(f"'{image}'"):
            rewritten = f"'{image}' metadata: {rewritten}"
        raise UsageError(rewritten) from None


def _check_recorded_device(name: str, image) -> None:
    """The device an image was made on may be missing here: say so, and how to reproduce anyway."""
    try:
        resolve_device(name)
    except UsageError:
        raise UsageError(f"'{image}': metadata key 'device' is {quote(name)}, which this machine does not have; "
                         "pass --device cpu (or auto) to reproduce it here") from None


def raw_from_metadata(record: dict, where) -> dict:
    """The settings a PNG records, as a config that the CLI's own checks then validate.

    Only configuration keys are taken: never an output folder or a plugin path.
    """
    config = record.get("config")
    prompt, seed = record.get("prompt"), record.get("seed")
    if not isinstance(config, dict) or not isinstance(prompt, str) or type(seed) is not int:
        raise UsageError(f"'{where}': its artengine metadata lacks a valid config, prompt or seed")
    if not 0 <= seed < SEED_LIMIT:  # a run draws seeds in this range; -1 ("draw one") cannot reproduce
        raise UsageError(f"'{where}': metadata key 'seed' is {quote(seed)}; an image's seed is 0..{SEED_LIMIT - 1}")
    raw = {k: v for k, v in config.items() if k not in ("out", *PROMPT_KEYS)}
    return raw | {"prompt": prompt, "seed": seed, "n": 1, "keep": 0}


def pixel_difference(first, second) -> int:
    """The largest difference of any pixel channel between two images (255 when sizes differ)."""
    from PIL import ImageChops

    with (open_image(read_user_file(first, "image", IMAGE_LIMIT), f"'{first}'") as a,
          open_image(read_user_file(second, "image", IMAGE_LIMIT), f"'{second}'") as b):
        a, b = a.convert("RGB"), b.convert("RGB")
        if a.size != b.size:
            return 255
        return max(high for _, high in ImageChops.difference(a, b).getextrema())
