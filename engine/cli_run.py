"""`artengine generate`, `compare` and `reproduce`: flags -> config -> run -> report."""

from __future__ import annotations

import contextlib
import re
import sys

import click

from . import discovery, sharding
from .cli import cli, emit_json, silence_stdout
from .compare import configurations, execute_compare, plan_compare, write_grid_and_report
from .config import apply_set, merge, parse_loss_flag, read_config_file, resolve
from .defaults import PROMPT_KEYS, layered_defaults, under
from .errors import ArtengineError, UsageError, quote
from .outputs import read_png_metadata
from .progress import Reporter, stop_on_signals
from .run import Interrupted, Run, draw_seed, execute, prepare
from .run_record import SEED_LIMIT

LOADING = "checking the settings and loading models"


def run_options(command):
    """The flags `generate` and `compare` share; each maps onto one config key."""
    decorators = [
        click.argument("prompt", required=False),
        click.option("--prompts", "prompts_file", type=click.Path(), help="File with one prompt per line."),
        click.option("-n", "n", type=int, help="Candidates per prompt.  [default: 1]"),
        click.option("--keep", type=int, help="Keep the best K candidates, ranked by the scorer."),
        click.option("--scorer", help="Scorer ranking the candidates (see `artengine list scorers`)."),
        click.option("--seed", type=int, help="Base seed; candidate i gets seed+i. Drawn when absent."),
        click.option("--size", help="Image size WxH, e.g. 256x256.  [default: the generator's]"),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="[default: auto]"),
        click.option("--config", "config_file", type=click.Path(), help="TOML file with any of these settings."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override one config key, e.g. generator.steps=50 (repeatable)."),
        click.option("--loss", "losses", multiple=True, metavar="NAME[:WEIGHT]",
                     help="Add a loss term, e.g. tv:0.1 (repeatable; see `artengine list losses`)."),
        click.option("--out", help="Folder for run folders.  [default: outputs]"),
        click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
        click.option("--resume", "resume_dir", type=click.Path(),
                     help="Continue an interrupted run in its folder (other settings come from its run.json)."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def build_raw(file_raw: dict, prompt, prompts_file, flags: dict, losses, sets) -> dict:
    """The file's settings overridden by flags, then by --set (precedence, lowest first)."""
    raw = dict(file_raw)
    if prompt is not None or prompts_file is not None:
        for key in PROMPT_KEYS:
            raw.pop(key, None)
        if prompt is not None:
            raw["prompt"] = prompt
        if prompts_file is not None:
            raw["prompts_file"] = prompts_file
    raw = merge(raw, {key: value for key, value in flags.items() if value is not None})
    for text in losses:
        name, weight = parse_loss_flag(text)
        raw = merge(raw, {"losses": {name: {"weight": weight}}})
    for assignment in sets:
        apply_set(raw, assignment)
    if raw.get("seed", -1) == -1:
        raw["seed"] = draw_seed()  # drawn up front so that it is recorded, and shared by compare
    return raw


def chosen_generator(*choices) -> dict:
    """The first generator the command line or its --config file picks, as a settings table."""
    return next(({"generator": choice} for choice in choices if choice is not None), {})


def check_file(file_raw: dict, path, generator) -> None:
    """Report mistakes inside the config file with the file's name (before merging flags)."""
    raw = merge(file_raw, {"generator": generator} if generator else {})
    if "generator" in raw:
        resolve(raw, discovery.host.registry, where=f"config file '{path}'")


def finish(run: Run, action, report, after=lambda: None) -> None:
    """Run `action`, record how it ended in run.json, call `after`, report; re-raise any failure.

    Call it inside `stop_on_signals`, entered before the run folder is made, so that a
    Ctrl-C at any moment finds the handler in place. `after` (the grid of a compare) runs
    before run.json is finished, also after a failure; the first failure is what is reported.
    """
    failure: BaseException | None = None
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - recorded in run.json, then raised again
        failure = error
    try:
        after()
    except Exception as error:  # noqa: BLE001
        failure = failure or error
    if failure is None:
        run.finish("complete")
    else:
        run.finish("interrupted" if isinstance(failure, Interrupted) else "failed",
                   str(failure) or type(failure).__name__)
    try:
        report(run)
    except ArtengineError:
        if failure is None:
            raise
    if failure is not None:
        raise failure


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
def generate(prompt, prompts_file, n, keep, scorer, seed, size, device, config_file, sets, losses, out,
             as_json, resume_dir, generator):
    """Make images from PROMPT (`text:weight|other text:-1`) or from --prompts FILE."""
    if resume_dir:
        return resume(resume_dir, as_json, prompt, prompts_file, n, keep, scorer, seed, size, device, config_file,
                      *sets, *losses, out, generator)
    file_raw = read_config_file(config_file) if config_file else {}
    if file_raw:
        check_file(file_raw, config_file, generator)
    registry = discovery.host.registry
    defaults = layered_defaults(registry, chosen_generator(generator, file_raw.get("generator")))
    flags = dict(n=n, keep=keep, scorer=scorer, seed=seed, size=size, device=device, out=out, generator=generator)
    raw = build_raw(under(defaults, file_raw), prompt, prompts_file, flags, losses, sets)
    reporter = Reporter()
    shard = sharding.current_shard()  # several processes (torchrun, accelerate launch): a share of the prompts each
    with reporter.busy(LOADING):  # generators check their models (loading them) here
        plan = prepare(resolve(raw, registry, where="settings"), registry)
    with stop_on_signals(reporter):
        if shard is not None:
            return sharding.generate_sharded(shard, plan, reporter, summary(as_json), plan.config.generator)
        run = Run(plan.config.out, plan.config.prompts[0].text, kind="generate")
        finish(run, lambda: execute(plan, run, reporter, configuration=plan.config.generator), summary(as_json))


@cli.command()
@run_options
@click.option("-g", "--generator", "generators", multiple=True, help="A configuration per generator (repeatable).")
@click.option("--axis", "axes", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a key over every configuration, e.g. generator.steps=10,50 (repeatable).")
def compare(prompt, prompts_file, n, keep, scorer, seed, size, device, config_file, sets, losses, out,
            as_json, resume_dir, generators, axes):
    """Run several configurations on the same prompts and seeds; write grid.png and index.html."""
    if resume_dir:
        return resume(resume_dir, as_json, prompt, prompts_file, n, keep, scorer, seed, size, device, config_file,
                      *sets, *losses, out, *generators, *axes)
    file_raw = read_config_file(config_file) if config_file else {}
    named = file_raw.pop("configurations", {})
    tables = named.values() if isinstance(named, dict) else []
    chosen = chosen_generator(*generators, file_raw.get("generator"),
                              *(table.get("generator") for table in tables if isinstance(table, dict)))
    defaults = layered_defaults(discovery.host.registry, chosen)
    flags = dict(n=n, keep=keep, scorer=scorer, seed=seed, size=size, device=device, out=out)
    raw = build_raw(under(defaults, file_raw), prompt, prompts_file, flags, losses, sets=())
    source = f"config file '{config_file}', " if config_file else ""
    pairs = configurations(raw, named, list(generators), list(axes), where=f"config file '{config_file}'",
                           sets=list(sets), registry=discovery.host.registry)
    reporter = Reporter()
    shard = sharding.current_shard()  # several processes: a share of the (configuration, prompt) pairs each
    with reporter.busy(LOADING):
        plans = plan_compare(pairs, discovery.host.registry, source)
    first = plans[0][1].config

    def new_run() -> Run:
        run = Run(first.out, f"compare-{first.prompts[0].text}", kind="compare")
        run.document["labels"] = {name: given for name, _, given in plans}
        return run

    with stop_on_signals(reporter):
        if shard is not None:
            run = sharding.compare_sharded(shard, plans, reporter, summary(as_json), new_run,
                                           after=lambda run: write_grid_and_report(run, plans))
            if run is None:
                return  # rank 0 reports
        else:
            run = new_run()
            finish(run, lambda: execute_compare(plans, run, reporter), summary(as_json),
                   after=lambda: write_grid_and_report(run, plans))
    if not as_json:
        click.echo(f"grid: {run.dir / 'grid.png'}\nreport: {run.dir / 'index.html'}", err=True)


def resume(run_dir, as_json: bool, *other_settings) -> None:
    """Continue an interrupted generate or compare run in its own folder, from its run.json."""
    run = Run.reopen(run_dir)  # first: a wrong folder is the more basic mistake
    try:
        if any(value is not None for value in other_settings):
            raise UsageError(f"--resume takes no other settings: they come from '{run_dir}/run.json'")
        registry = discovery.host.registry
        labels = run.document.get("labels", {})
        reporter = Reporter()
        with reporter.busy(LOADING):
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
    run.save()  # only now marked running: a mistake above leaves the folder as it was
    after = (lambda: write_grid_and_report(run, plans)) if run.document.get("kind") == "compare" else (lambda: None)
    with stop_on_signals(reporter):
        finish(run, lambda: execute_compare(plans, run, reporter), summary(as_json), after=after)


@cli.command()
@click.argument("image", type=click.Path())
@click.option("--out", default="outputs", show_default=True, help="Folder for the new run folder.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]),
              help="[default: the device recorded in the image]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def reproduce(image, out, device, as_json):
    """Re-run IMAGE.png from its metadata and say whether the new image is identical.

    Exits 0 when the pixels match, 1 when they differ."""
    record = read_png_metadata(image)
    raw = raw_from_metadata(record, image)
    if device:
        raw["device"] = device
    elif isinstance(raw.get("device"), str):
        check_recorded_device(raw["device"], image)
    raw["out"] = out
    registry = discovery.host.registry
    reporter = Reporter()
    with reporter.busy(LOADING), in_metadata_terms(image, flags_given={"--device"} if device else set()):
        plan = prepare(resolve(raw, registry, where=f"'{image}' metadata"), registry)
    name = record.get("configuration") if isinstance(record.get("configuration"), str) else plan.config.generator
    with stop_on_signals(reporter):
        run = Run(out, f"reproduce-{plan.config.prompts[0].text}", kind="reproduce")
        finish(run, lambda: execute(plan, run, reporter, configuration=name), lambda run: None)
    difference = pixel_difference(image, run.images[0].path)
    same = difference == 0
    with saved_if_stdout_fails(run):
        if as_json:
            emit_json({"identical": same, "max_difference": difference, "original": str(image),
                       "reproduced": str(run.images[0].path.resolve())})
        else:
            click.echo(("identical" if same else f"different (largest pixel difference {difference})")
                       + f": {run.images[0].path} vs {image}")
    return 0 if same else 1


# The flags whose settings a PNG's metadata supplies to `reproduce`: an error about one of them
# names the metadata key, since the user typed no such flag.
METADATA_KEYS = {"--seed": "seed", "--size": "size", "--device": "device", "-n": "n", "--keep": "keep",
                 "--scorer": "scorer", "--loss": "losses", "-g": "generator", "--generator": "generator",
                 "--prompts": "prompts_file", "--set": "config", "--config": "config"}
_FLAG = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, METADATA_KEYS), key=len, reverse=True)) + r")(?![\w-])")


@contextlib.contextmanager
def in_metadata_terms(image, flags_given: set[str]):
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


def check_recorded_device(name: str, image) -> None:
    """The device an image was made on may be missing here: say so, and how to reproduce anyway."""
    from .devices import resolve_device

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
    from PIL import ImageChops

    from .images import open_image
    from .safe_io import IMAGE_LIMIT, read_user_file

    with (open_image(read_user_file(first, "image", IMAGE_LIMIT), f"'{first}'") as a,
          open_image(read_user_file(second, "image", IMAGE_LIMIT), f"'{second}'") as b):
        a, b = a.convert("RGB"), b.convert("RGB")
        if a.size != b.size:
            return 255
        return max(high for _, high in ImageChops.difference(a, b).getextrema())
