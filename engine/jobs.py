"""Whole jobs, as `artengine generate`, `compare`, `reproduce` and `--resume` run them.

Each is two steps: a `plan_*` function turns what the user gave into a `Job` (every setting
checked, models loaded, nothing written yet), and `run_job` runs it into a run folder (images,
PNG metadata, run.json and its final status). The command line and the web UI both call these,
so that a run started anywhere is the same run.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import discovery
from .compare import configurations, execute_compare, write_grid_and_report
from .compare import plan_compare as _plan_configurations
from .config import apply_set, merge, parse_loss_flag, read_config_file, resolve
from .defaults import PROMPT_KEYS, layered_defaults, under
from .devices import resolve_device
from .errors import ArtengineError, UsageError, quote
from .images import open_image
from .infotext import read_png_metadata
from .invocation import recording
from .progress import Reporter
from .registry import Registry
from .run import Interrupted, Plan, Run, draw_seed, prepare
from .run_record import SEED_LIMIT
from .safe_io import IMAGE_LIMIT, read_user_file


@dataclass
class Settings:
    """A generate's or compare's settings as a user gives them; None (or empty) means not given.

    Precedence, lowest first: the shipped and the user's defaults < `config_file` < the named
    settings (the command line's flags) < `losses` < `sets`. A prompt given here (`prompt`,
    `prompts` or `prompts_file`) replaces every prompt of the defaults and the config file.
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

    def flags(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}


@dataclass
class Job:
    """A checked job: every configuration resolved, its models loaded, nothing written yet."""

    kind: str
    """'generate', 'compare', 'reproduce' or 'resume'."""
    plans: list[tuple[str, Plan, dict[str, Any]]]
    """(configuration name, its plan, the options it was given), run in this order."""
    out: Path
    label: str
    """What names the new run folder (a resumed run keeps its own)."""
    document: dict[str, Any] = field(default_factory=dict)
    """Keys added to the new run's run.json (a compare's labels)."""
    run: Run | None = None
    """The run folder: a resumed one from the start, else made by `run_job`."""
    original: Path | None = None
    """reproduce: the image remade."""
    result: dict[str, Any] = field(default_factory=dict)
    """reproduce, once run: identical, max_difference, original, reproduced."""
    command: list[str] | None = None
    """The command the new run's run.json records; default: this process's (`artengine
    generate ...`). The web UI gives its own, so that the server's flags are never recorded."""

    @property
    def plan(self) -> Plan:
        """The first (for a generate, the only) configuration's plan."""
        return self.plans[0][1]

    @property
    def device(self) -> str:
        return self.plan.resolved["device"]

    @property
    def prompt(self) -> str:
        return self.plan.config.prompts[0].text

    def new_run(self) -> Run:
        """The job's run folder, made now, its run.json begun with the job's own keys."""
        with recording(self.command):
            run = Run(self.out, self.label, kind=self.kind)
        run.document.update(self.document)
        return run

    def after_images(self, run: Run) -> Callable[[str], None]:
        """What follows the images, also after a failure, given the status the run ends with: a
        compare's (or a resumed compare's) grid and report."""
        if run.document.get("kind") != "compare":
            return lambda status: None
        return lambda status: write_grid_and_report(run, self.plans, status)

    def cancel(self) -> None:
        """Let go of a job that will not run: a reopened run folder is unlocked, untouched."""
        if self.kind == "resume" and self.run is not None:
            self.run.lock.release()


def check_settings(settings: Settings) -> dict[str, Any]:
    """The settings checked (no model loaded) in the canonical form run.json records, with the
    seed drawn when none was given; UsageError names what is wrong."""
    registry = _registry()
    return resolve(_generate_raw(settings, registry), registry, where="settings").as_dict()


def plan_generate(settings: Settings) -> Job:
    """`artengine generate`: check everything and load the models; nothing is written yet."""
    registry = _registry()
    plan = prepare(resolve(_generate_raw(settings, registry), registry, where="settings"), registry)
    return Job("generate", [(plan.config.generator, plan, {})], Path(plan.config.out), plan.config.prompts[0].text)


def plan_comparison(settings: Settings) -> Job:
    """`artengine compare`: each configuration checked and its models loaded, on the same prompts and seeds."""
    registry = _registry()
    file_raw = read_config_file(settings.config_file) if settings.config_file else {}
    named = file_raw.pop("configurations", {})
    if settings.configurations and isinstance(named, dict):  # else configurations() says what is wrong
        named = named | {name: _table(assignments) for name, assignments in settings.configurations.items()}
    tables = named.values() if isinstance(named, dict) else []
    chosen = _chosen_generator(*settings.generators, file_raw.get("generator"),
                               *(table.get("generator") for table in tables if isinstance(table, dict)))
    defaults = layered_defaults(registry, chosen)
    flags = settings.flags("n", "keep", "scorer", "seed", "size", "device", "out")
    raw = build_raw(under(defaults, file_raw), settings, flags, sets=())
    where = f"config file '{settings.config_file}'" if settings.config_file else "settings"
    pairs = configurations(raw, named, list(settings.generators), list(settings.axes), where=where,
                           sets=list(settings.sets), registry=registry)
    source = f"config file '{settings.config_file}', " if settings.config_file else ""
    plans = _plan_configurations(pairs, registry, source)
    first = plans[0][1].config
    return Job("compare", plans, Path(first.out), f"compare-{first.prompts[0].text}",
               document={"labels": {name: given for name, _, given in plans}})


def plan_reproduce(image: str | Path, out: str | Path = "outputs", device: str | None = None,
                   shown_as: str | None = None) -> Job:
    """`artengine reproduce IMAGE`: the settings IMAGE's metadata records, checked, on `device`
    (default: the one recorded). Errors name the image as `shown_as` (default: its path)."""
    shown = shown_as or str(image)
    record = read_png_metadata(image)
    raw = raw_from_metadata(record, shown)
    if device:
        raw["device"] = device
    elif isinstance(raw.get("device"), str):
        _check_recorded_device(raw["device"], shown)
    raw["out"] = str(out)
    registry = _registry()
    with _in_metadata_terms(shown, flags_given={"--device"} if device else set()):
        plan = prepare(resolve(raw, registry, where=f"'{shown}' metadata"), registry)
    name = record.get("configuration") if isinstance(record.get("configuration"), str) else plan.config.generator
    return Job("reproduce", [(name, plan, {})], Path(out), f"reproduce-{plan.config.prompts[0].text}",
               original=Path(image), result={"original": shown})


def plan_resume(run_dir: str | Path, refuse: Callable[[], None] = lambda: None) -> Job:
    """Continue an interrupted generate or compare run in its own folder, from its run.json.

    The folder is locked from now on (`Job.cancel` lets go); it is marked running only when
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
    return Job("resume", plans, run.dir.parent, run.dir.name, run=run)


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
    finish(run, lambda: execute_compare(job.plans, run, progress), report, after=job.after_images(run))
    if job.original is not None:
        difference = pixel_difference(job.original, run.images[0].path)
        job.result.update(identical=difference == 0, max_difference=difference,
                          reproduced=str(run.images[0].path.resolve()))
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
    defaults = layered_defaults(registry, _chosen_generator(settings.generator, file_raw.get("generator")))
    flags = settings.flags("n", "keep", "scorer", "seed", "size", "device", "out", "generator")
    return build_raw(under(defaults, file_raw), settings, flags, settings.sets)


def build_raw(base: dict[str, Any], settings: Settings, flags: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """`base` (defaults and the config file) overridden by the settings' prompts and flags, then
    by its losses, then by `sets` (precedence, lowest first); the seed drawn when none is set."""
    raw = dict(base)
    if settings.prompt is not None or settings.prompts is not None or settings.prompts_file is not None:
        for key in PROMPT_KEYS:
            raw.pop(key, None)
        if settings.prompt is not None:
            raw["prompt"] = settings.prompt
        if settings.prompts is not None:
            raw["prompts"] = list(settings.prompts)
        if settings.prompts_file is not None:
            raw["prompts_file"] = settings.prompts_file
    raw = merge(raw, {key: value for key, value in flags.items() if value is not None})
    for text in settings.losses:
        name, weight = parse_loss_flag(text)
        raw = merge(raw, {"losses": {name: {"weight": weight}}})
    for assignment in sets:
        apply_set(raw, assignment)
    if raw.get("seed", -1) == -1:
        raw["seed"] = draw_seed()  # drawn up front so that it is recorded, and shared by compare
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
