"""generate: config -> requests -> generator -> candidates -> scorer -> ranking -> outputs."""

from __future__ import annotations

import contextlib
import datetime
import secrets
import shutil
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__, discovery
from .config import RunConfig, format_size
from .devices import resolve_device
from .errors import ArtengineError, Interrupted, StopRequested, UsageError, ctrl_c_seen, quote
from .interfaces import Candidate, Request
from .memory import out_of_memory
from .infotext import format_parameters
from .invocation import command_line
from .launcher import current_shard
from .outputs import check_no_links_out, missing_folders, new_run_dir, png_bytes, remove_empty, slugify, write_json, write_new
from .progress import Reporter
from .registry import Registry
from .run_record import check_image_record, lock_run_dir, read_run_document
from .safe_io import MAX_DEPTH, depth


@dataclass
class ImageRecord:
    """One saved image, as run.json and `--json` list it."""

    path: Path
    prompt: str
    seed: int
    generator: str
    score: float | None
    rank: int
    configuration: str
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], run_dir: Path) -> "ImageRecord":
        """The record `data` of a run.json in `run_dir`, checked: its path must name a file inside
        the run folder. Raises UsageError naming the key that is wrong."""
        check_image_record(data, run_dir)
        fields = {k: data[k] for k in ("prompt", "seed", "generator", "score", "rank", "configuration")}
        return cls(run_dir / data["path"], **fields, timings=data.get("timings", {}), metadata=data.get("metadata", {}))

    def as_dict(self, run_dir: Path | None = None) -> dict[str, Any]:
        return {
            "path": str(self.path.relative_to(run_dir) if run_dir else self.path),
            "prompt": self.prompt,
            "seed": self.seed,
            "generator": self.generator,
            "configuration": self.configuration,
            "score": self.score,
            "rank": self.rank,
            "timings": self.timings,
            "metadata": self.metadata,
        }


class Run:
    """One run folder: its images and a run.json kept current as images land."""

    def __init__(self, out: str | Path, label: str, kind: str, *, existing: Path | None = None):
        if existing is not None:
            self._reopen(existing)
            return
        missing = missing_folders(Path(out))
        self.dir = new_run_dir(out, label)
        self.lock = lock_run_dir(self.dir)
        self.images: list[ImageRecord] = []
        self.document: dict[str, Any] = {
            "artengine": __version__,
            "kind": kind,
            "status": "running",
            "started": _now(),
            "command": command_line(),
            "configurations": {},
            "images": [],
            "discarded": [],
        }
        try:
            self.save()
        except BaseException:  # e.g. a full disk: leave no empty folder behind, not even --out
            self.lock.release()
            shutil.rmtree(self.dir, ignore_errors=True)  # made just now, exclusively: ours alone
            remove_empty(missing)
            raise

    @classmethod
    def reopen(cls, run_dir: str | Path) -> "Run":
        """An interrupted (or failed) run, to be continued in place by `--resume`."""
        return cls("", "", "", existing=Path(run_dir))

    def _reopen(self, run_dir: Path) -> None:
        if not (run_dir / "run.json").exists() and not (run_dir / "run.json").is_symlink():
            raise UsageError(f"--resume '{run_dir}': no run.json there; give a run folder made by artengine")
        self.lock = lock_run_dir(run_dir, f"--resume '{run_dir}'")
        try:
            document = read_run_document(run_dir)
            images = [ImageRecord.from_dict(d, run_dir) for d in document["images"]]
            check_no_links_out(run_dir, f"--resume '{run_dir}'")  # images, state and previews are written there
            if document.get("status") == "complete":
                raise UsageError(f"--resume '{run_dir}': that run is already complete")
        except BaseException:
            self.lock.release()
            raise
        self.dir = run_dir
        # images saved when the run was stopped are superseded by the resumed ones
        self.images = [r for r in images if not r.metadata.get("interrupted")]
        document.setdefault("partial", []).extend(r.as_dict(run_dir) for r in images if r.metadata.get("interrupted"))
        document.update(status="running", resumed=_now())
        self.document = document  # saved by the caller once the rest of the command checks out

    def done(self, configuration: str, prompt: str) -> bool:
        """Whether this configuration already finished this prompt (when resuming)."""
        return any(r.configuration == configuration and r.prompt == prompt for r in self.images)

    def save(self) -> None:
        self.document["images"] = [record.as_dict(self.dir) for record in self.images]
        write_json(self.dir / "run.json", self.document)

    def finish(self, status: str, error: str | None = None) -> None:
        """Record how the run ended and let go of the folder (another process may resume it)."""
        self.document.update(status=status, finished=_now())
        self.document.pop("error", None)
        if error:
            self.document["error"] = error[:500]  # bounded: on a full disk it must fit in place
        try:
            self.save()
        finally:
            if status == "complete":  # resumable state is only worth keeping while unfinished
                shutil.rmtree(self.dir / "state", ignore_errors=True)
            for folder in ("previews", "state"):  # an empty one is litter (e.g. its first write failed)
                with contextlib.suppress(OSError):
                    (self.dir / folder).rmdir()
            self.lock.release()

    def summary(self) -> dict[str, Any]:
        """The `--json` document."""
        return {
            "run_dir": str(self.dir.resolve()),
            "status": self.document["status"],
            "images": [
                {k: v for k, v in record.as_dict().items() if k not in ("timings", "metadata")}
                | {"path": str(record.path.resolve())}
                for record in self.images
            ],
        }


def draw_seed() -> int:
    """A random seed; on several processes (torchrun) rank 0's, so that all use the same."""
    seed, shard = secrets.randbelow(2**32), current_shard()
    return seed if shard is None else shard.share(seed)


@dataclass
class Plan:
    """A configuration checked and ready to run: nothing has been written yet."""

    config: RunConfig
    generator: Any
    requests: list[Request]
    scorer: Any
    size: tuple[int, int]
    resolved: dict[str, Any]
    versions: dict[str, str]


def prepare(config: RunConfig, registry: Registry) -> Plan:
    """Check everything that can be checked before any output folder is made."""
    if not config.prompts:
        raise UsageError("no prompt given: pass a PROMPT, --prompts FILE, or set prompt in the config")
    if config.seed < 0:
        raise ValueError("prepare() needs a drawn seed; see draw_seed()")
    device = resolve_device(config.device)
    generator = plugin_call(f"generator '{config.generator}'", registry.generator(config.generator),
                            config.generator_options, device)
    size = config.size or tuple(plugin_call(f"generator '{config.generator}'", generator.size_for,
                                            config.generator_options, device))
    seeds = tuple((config.seed + i) % 2**32 for i in range(config.n))
    losses = tuple(plugin_call(f"loss '{spec.name}'", registry.loss(spec.name), {"weight": spec.weight, **spec.options},
                               device) for spec in config.losses)
    requests = [Request(p, seeds, size, device, config.generator_options, losses) for p in config.prompts]
    for request in requests:
        plugin_call(f"generator '{config.generator}'", generator.check, request)
        for loss in losses:
            plugin_call(f"loss '{loss.name}'", loss.check, request)
    scorer = None
    if config.scorer:
        what = f"scorer '{config.scorer}'"
        scorer = plugin_call(what, registry.scorer(config.scorer), config.scorer_options, device)
        plugin_call(what, scorer.check)
    owners = {registry.owners[kind, name] for kind, name in _used_items(config)}
    versions = {"artengine": __version__} | {
        name: version for name, version in _plugin_versions().items() if name in owners
    }
    resolved = config.as_dict() | {"device": device, "size": format_size(size)}
    return Plan(config, generator, requests, scorer, size, resolved, versions)


@dataclass
class Ranked:
    """The candidates for one request, best first, with their scores and how long they took."""

    kept: list[tuple[Candidate, float | None]]
    discarded: list[tuple[Candidate, float | None]]
    generate_s: float
    score_s: float
    stop: BaseException | None
    """Set when the user stopped the generator; `kept` then holds what it had made."""


def generate_ranked(plan: Plan, request: Request, reporter: Reporter) -> Ranked:
    """Generate the candidates of one request, score them, rank them and apply `keep`.

    Used by `execute` and by anything else that needs ranked images without saving them
    (an evaluation command, say).
    """
    started = time.perf_counter()
    candidates, stop = _generate(plan.generator, plan.config.generator, request, reporter)
    generate_s = time.perf_counter() - started
    reporter.finish()
    scores, score_s = _score(plan.scorer, candidates, request)
    order = sorted(range(len(candidates)), key=lambda i: -scores[i] if scores[i] is not None else i)
    ranked = [(candidates[i], scores[i]) for i in order]
    keep = plan.config.keep or len(ranked)
    return Ranked(ranked[:keep], ranked[keep:], generate_s, score_s, stop)


def execute(plan: Plan, run: Run, reporter: Reporter, configuration: str = "default",
            numbers: Collection[int] | None = None) -> list[ImageRecord]:
    """Generate, score, rank and save every prompt of the plan into `run` (skipping those a
    resumed run already finished); with `numbers`, only those prompts (from 1: one process's
    share of several)."""
    run.document["configurations"][configuration] = plan.resolved
    saved = []
    for number, request in enumerate(plan.requests, start=1):
        if run.done(configuration, request.prompt.text) or (numbers is not None and number not in numbers):
            continue
        request = replace(request, state_dir=run.dir / "state" / f"{slugify(configuration)}-p{number}")
        total = len(plan.requests)
        reporter.start(f"{configuration} {number}/{total}" if total > 1 else configuration)
        reporter.on_preview = _preview_writer(run, configuration, number)
        ranked = generate_ranked(plan, request, reporter)
        for candidate, score in ranked.discarded:
            run.document["discarded"].append({"prompt": request.prompt.text, "seed": candidate.seed, "score": score})
        # the generator makes a prompt's candidates together: generate_s is that whole batch's
        # time, per_image_s its share per candidate
        made = len(ranked.kept) + len(ranked.discarded)
        timings = {"generate_s": round(ranked.generate_s, 4), "candidates": made,
                   "per_image_s": round(ranked.generate_s / max(made, 1), 4), "score_s": round(ranked.score_s, 4)}
        for rank, (candidate, score) in enumerate(ranked.kept, start=1):
            record = {
                "artengine": __version__,
                "prompt": request.prompt.text,
                "seed": candidate.seed,
                "size": format_size(plan.size),
                "generator": plan.config.generator,
                "configuration": configuration,
                "score": score,
                "rank": rank,
                "config": plan.resolved,
                "plugins": plan.versions,
                "metadata": candidate.metadata,
            }
            data = png_bytes(candidate.image, format_parameters(record, plan.generator.options), record)
            name = f"{len(run.images):04d}-{candidate.seed}-{slugify(request.prompt.text)}.png"
            path = write_new(run.dir / name, data)
            run.images.append(  # recorded as soon as it is on disk, before anything else can fail
                ImageRecord(path, request.prompt.text, candidate.seed, plan.config.generator, score, rank,
                            configuration, timings, candidate.metadata)
            )
            saved.append(run.images[-1])
            for suffix, content in candidate.files.items():
                write_new(run.dir / f"{path.stem}-{Path(suffix).name}", content)
            run.save()
        run.save()
        if ranked.stop is not None:
            raise Interrupted(f"stopped by the user; {len(run.images)} image(s) saved in {run.dir}") from ranked.stop
    return saved


def plugin_call(what: str, function, *args):
    """`function(*args)` from a plugin, with anything it raises or exits with, other than an
    ArtengineError or the user's Ctrl-C, reported as "WHAT failed: ..." (exit code 1)."""
    try:
        return function(*args)
    except (ArtengineError, StopRequested):
        raise
    except BaseException as error:  # noqa: BLE001 - sys.exit() or a bare BaseException in a plugin too
        if isinstance(error, KeyboardInterrupt) and _user_interrupt(error):
            raise
        raise ArtengineError(f"{what} failed: {describe(error)}") from error


def describe(error: BaseException) -> str:
    """'Type: first line of the message', shortened: how a plugin's failure is quoted."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _user_interrupt(error: KeyboardInterrupt) -> bool:
    """Whether a KeyboardInterrupt came from the user's Ctrl-C (see `watch_ctrl_c`, and the second
    Ctrl-C of `stop_on_signals`) rather than from a plugin raising it."""
    import traceback

    return ctrl_c_seen() or any(frame.name == "handle" and frame.filename.endswith("progress.py")
                                  for frame in traceback.extract_tb(error.__traceback__))


def _generate(generator, name: str, request: Request, reporter: Reporter):
    """Run the generator; returns (candidates, the stop exception if the user stopped it)."""
    try:
        candidates = generator.generate(request, reporter)
        stop = None
        if reporter.stop_requested:  # it returned early after catching StopRequested
            stop = StopRequested()
    except StopRequested as error:
        return [], error
    except KeyboardInterrupt as error:
        if reporter.stop_requested or _user_interrupt(error):
            return [], error
        raise ArtengineError(f"generator '{name}' failed on prompt {quote(request.prompt.text)}: "
                             f"{describe(error)}") from error
    except ArtengineError:
        raise
    except BaseException as error:  # noqa: BLE001 - a plugin's bug (or its sys.exit) must not lose the images so far
        if out_of_memory(error):
            _release_cached_memory()
            hint = getattr(generator, "memory_hint", "")
            lower = f"--size, -n or {hint}" if hint else "--size or -n"
            raise ArtengineError(
                f"{request.device} ran out of memory in generator '{name}' on prompt {quote(request.prompt.text)} "
                f"(images made before it are saved); lower {lower}"
            ) from error
        raise ArtengineError(
            f"generator '{name}' failed on prompt {quote(request.prompt.text)}: {describe(error)}"
        ) from error
    return _check_candidates(candidates, name, request, partial=stop is not None), stop


def _release_cached_memory() -> None:
    """Hand CUDA's cached blocks back after an out-of-memory error, so saving can go on."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _check_candidates(candidates, name: str, request: Request, partial: bool) -> list[Candidate]:
    from PIL.Image import Image

    if not isinstance(candidates, list) or not all(
        isinstance(c, Candidate) and isinstance(c.image, Image) for c in candidates
    ):
        raise ArtengineError(f"generator '{name}' returned {type(candidates).__name__}, not a list of Candidates with PIL images")
    if len(candidates) != request.count and not partial:
        raise ArtengineError(f"generator '{name}' returned {len(candidates)} candidates, {request.count} were asked for")
    for candidate in candidates:  # it goes into PNG metadata and run.json: JSON, UTF-8, not too deep
        problem = metadata_problem(candidate.metadata)
        if problem:
            raise ArtengineError(f"generator '{name}' failed on prompt {quote(request.prompt.text)}: "
                                 f"the metadata of its candidate (seed {candidate.seed}) {problem}")
    return candidates


def metadata_problem(metadata) -> str | None:
    """Why a candidate's metadata cannot be recorded, or None."""
    import json

    if not isinstance(metadata, dict):
        return f"is a {type(metadata).__name__}, not a dict"
    if depth(metadata) > MAX_DEPTH:
        return f"nests more than {MAX_DEPTH} deep"
    try:
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:  # UnicodeEncodeError is a ValueError
        return f"cannot be written as JSON ({describe(error)})"
    return None


def _score(scorer, candidates: list[Candidate], request: Request) -> tuple[list[float | None], float]:
    if scorer is None or not candidates:
        return [None] * len(candidates), 0.0
    started = time.perf_counter()
    what = f"scorer '{scorer.name}'"
    scores = [float(s) for s in plugin_call(what, scorer.score, [c.image for c in candidates], request.prompt)]
    if len(scores) != len(candidates):
        raise ArtengineError(f"scorer '{scorer.name}' returned {len(scores)} scores for {len(candidates)} images")
    return scores, (time.perf_counter() - started) / len(candidates)


def _preview_writer(run: Run, configuration: str, prompt_number: int):
    def write(step: int, image) -> None:
        folder = run.dir / "previews"
        folder.mkdir(exist_ok=True)
        import io

        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        write_new(folder / f"{slugify(configuration)}-p{prompt_number}-{step:05d}.png", buffer.getvalue())

    return write


def _used_items(config: RunConfig):
    yield "generator", config.generator
    if config.scorer:
        yield "scorer", config.scorer
    for spec in config.losses:
        yield "loss", spec.name


def _plugin_versions() -> dict[str, str]:
    return discovery.host.versions()


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
