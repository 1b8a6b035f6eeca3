"""generate: config -> requests -> generator -> candidates -> scorer -> ranking -> outputs."""

from __future__ import annotations

import datetime
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__
from .config import RunConfig, format_size
from .devices import resolve_device
from .errors import ArtengineError, StopRequested, UsageError
from .interfaces import Candidate, Request
from .memory import out_of_memory
from .outputs import new_run_dir, parameters_text, png_bytes, slugify, write_json, write_new
from .progress import Reporter
from .registry import Registry


class Interrupted(ArtengineError):
    """The user stopped the run; what existed has been saved."""

    exit_code = 130


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
        self.dir = new_run_dir(out, label)
        self.images: list[ImageRecord] = []
        self.document: dict[str, Any] = {
            "artengine": __version__,
            "kind": kind,
            "status": "running",
            "started": _now(),
            "command": sys.argv,
            "configurations": {},
            "images": [],
            "discarded": [],
        }
        self.save()

    @classmethod
    def reopen(cls, run_dir: str | Path) -> "Run":
        """An interrupted (or failed) run, to be continued in place by `--resume`."""
        return cls("", "", "", existing=Path(run_dir))

    def _reopen(self, run_dir: Path) -> None:
        import json

        try:
            document = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
            images = [ImageRecord.from_dict(d, run_dir) for d in document["images"]]
            document["configurations"].items()
        except FileNotFoundError:
            raise UsageError(f"--resume '{run_dir}': no run.json there; give a run folder made by artengine") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise UsageError(f"--resume '{run_dir}': its run.json is unreadable ({error})") from None
        if document.get("status") == "complete":
            raise UsageError(f"--resume '{run_dir}': that run is already complete")
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
        self.document.update(status=status, finished=_now())
        self.document.pop("error", None)
        if error:
            self.document["error"] = error
        self.save()
        if status == "complete":  # resumable state is only worth keeping while unfinished
            shutil.rmtree(self.dir / "state", ignore_errors=True)

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
    return secrets.randbelow(2**32)


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
    generator = registry.generator(config.generator)()
    size = config.size or tuple(generator.size_for(config.generator_options, device))
    seeds = tuple((config.seed + i) % 2**32 for i in range(config.n))
    losses = tuple(registry.loss(spec.name)(spec.weight, spec.options) for spec in config.losses)
    requests = [Request(p, seeds, size, device, config.generator_options, losses) for p in config.prompts]
    for request in requests:
        generator.check(request)
    scorer = registry.scorer(config.scorer)(config.scorer_options, device) if config.scorer else None
    if scorer is not None:
        scorer.check()
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


def execute(plan: Plan, run: Run, reporter: Reporter, configuration: str = "default") -> list[ImageRecord]:
    """Generate, score, rank and save every prompt of the plan into `run` (skipping those a
    resumed run already finished)."""
    run.document["configurations"][configuration] = plan.resolved
    saved = []
    for number, request in enumerate(plan.requests, start=1):
        if run.done(configuration, request.prompt.text):
            continue
        request = replace(request, state_dir=run.dir / "state" / f"{slugify(configuration)}-p{number}")
        total = len(plan.requests)
        reporter.start(f"{configuration} {number}/{total}" if total > 1 else configuration)
        reporter.on_preview = _preview_writer(run, configuration, number)
        ranked = generate_ranked(plan, request, reporter)
        for candidate, score in ranked.discarded:
            run.document["discarded"].append({"prompt": request.prompt.text, "seed": candidate.seed, "score": score})
        timings = {"generate_s": round(ranked.generate_s, 4), "score_s": round(ranked.score_s, 4)}
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
            data = png_bytes(candidate.image, parameters_text(record), record)
            name = f"{len(run.images):04d}-{candidate.seed}-{slugify(request.prompt.text)}.png"
            path = write_new(run.dir / name, data)
            for suffix, content in candidate.files.items():
                write_new(run.dir / f"{path.stem}-{Path(suffix).name}", content)
            run.images.append(
                ImageRecord(path, request.prompt.text, candidate.seed, plan.config.generator, score, rank,
                            configuration, timings, candidate.metadata)
            )
            saved.append(run.images[-1])
        run.save()
        if ranked.stop is not None:
            raise Interrupted(f"stopped by the user; {len(run.images)} image(s) saved in {run.dir}") from ranked.stop
    return saved


def _generate(generator, name: str, request: Request, reporter: Reporter):
    """Run the generator; returns (candidates, the stop exception if the user stopped it)."""
    try:
        candidates = generator.generate(request, reporter)
        stop = None
        if reporter.stop_requested:  # it returned early after catching StopRequested
            stop = StopRequested()
    except (StopRequested, KeyboardInterrupt) as error:
        return [], error
    except ArtengineError:
        raise
    except Exception as error:  # noqa: BLE001 - a plugin's bug must not lose the images so far
        if out_of_memory(error):
            _release_cached_memory()
            hint = getattr(generator, "memory_hint", "")
            lower = f"--size, -n or {hint}" if hint else "--size or -n"
            raise ArtengineError(
                f"{request.device} ran out of memory in generator '{name}' on prompt {request.prompt.text!r} "
                f"(images made before it are saved); lower {lower}"
            ) from error
        raise ArtengineError(
            f"generator '{name}' failed on prompt {request.prompt.text!r}: {type(error).__name__}: {error}"
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
    return candidates


def _score(scorer, candidates: list[Candidate], request: Request) -> tuple[list[float | None], float]:
    if scorer is None or not candidates:
        return [None] * len(candidates), 0.0
    started = time.perf_counter()
    scores = [float(s) for s in scorer.score([c.image for c in candidates], request.prompt)]
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
    from . import discovery

    return discovery.host.versions()


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
