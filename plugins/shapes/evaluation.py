"""Prompt fidelity on the shapes world: draw prompts, generate, read back, grade, summarise."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .reader import grade, read_attributes
from .scene import ONE_OBJECT_KEYS, TWO_OBJECT_KEYS, Scene, sample_scene

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass
class Graded:
    """The top-ranked image of one prompt, what was read from it and what was right."""

    scene: Scene
    prompt: str
    seed: int
    score: float | None
    reading: dict[str, Any]
    marks: dict[str, bool]
    image: "Image"
    number: int = 0  # the prompt's position among those drawn, from 0


def draw_scenes(seed: int, objects: int, count: int) -> list[Scene]:
    """`count` random scenes whose captions name every attribute; the same for the same seed."""
    rng = random.Random(f"eval shapes:{seed}")
    return [sample_scene(rng, objects, omit=False) for _ in range(count)]


def evaluate(plan, scenes: list[Scene], reporter, numbers: list[int] | None = None
             ) -> tuple[list[Graded], BaseException | None]:
    """Generate for each scene's prompt (plan.requests, in order; with `numbers`, only those
    positions: one process's share of several) and grade the best image.

    Returns the graded prompts and, if the user stopped the generator, the stop exception.
    """
    from artengine.jobs import generate_ranked

    results = []
    for number in range(len(scenes)) if numbers is None else numbers:
        scene, request = scenes[number], plan.requests[number]
        reporter.start(f"eval {plan.config.generator} {number + 1}/{len(scenes)}")
        ranked = generate_ranked(plan, request, reporter)
        if ranked.kept:
            candidate, score = ranked.kept[0]
            reading = read_attributes(candidate.image, objects=len(scene.objects))
            results.append(Graded(scene, request.prompt.text, candidate.seed, score, reading,
                                  grade(scene, reading), candidate.image, number))
        if ranked.stop is not None:
            return results, ranked.stop
    return results, None


def gather(shard, results: list[Graded], stopped: bool) -> tuple[list[Graded], bool]:
    """Every process's graded prompts, in the order one process grades them, and whether any
    process was stopped (on every process)."""
    parts = shard.gather((results, stopped))
    merged = sorted((graded for part, _ in parts for graded in part), key=lambda graded: graded.number)
    return merged, any(stop for _, stop in parts)


def _share(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def summarise(plan, scenes: list[Scene], results: list[Graded], seed: int, objects: int, stopped: bool) -> dict:
    """The evaluation as JSON-ready data: per-attribute accuracy, their mean, each prompt."""
    keys = ONE_OBJECT_KEYS if objects == 1 else TWO_OBJECT_KEYS
    accuracy = {key: _share(r.marks[key] for r in results) for key in keys}
    return {
        "generator": plan.config.generator,
        "status": "interrupted" if stopped else "complete",
        "objects": objects,
        "prompts": len(results),
        "prompts_drawn": len(scenes),
        "seed": seed,
        "accuracy": accuracy,
        "mean": _share(accuracy.values()) if results else None,
        "all_correct": _share(all(r.marks.values()) for r in results),
        "config": {key: value for key, value in plan.resolved.items() if key != "prompts"},
        "results": [
            {"prompt": r.prompt, "seed": r.seed, "score": r.score, "expected": r.scene.attributes(),
             "read": {key: r.reading.get(key) for key in keys}, "correct": r.marks}
            for r in results
        ],
    }


def report_text(summary: dict) -> str:
    config = summary["config"]
    scorer = config.get("scorer", {}).get("name", "none")
    lines = [
        f"shapes-world fidelity of generator '{summary['generator']}': {summary['prompts']} prompts "
        f"with {summary['objects']} object(s), seed {summary['seed']}, {config['n']} candidate(s) each, "
        f"scorer {scorer}" + ("" if summary["status"] == "complete" else f" ({summary['status']})"),
        f"  {'attribute':<14} accuracy",
    ]
    rows = list(summary["accuracy"].items()) + [("mean", summary["mean"]), ("all correct", summary["all_correct"])]
    for name, value in rows:
        lines.append(f"  {name.replace('_', ' '):<14} {'-' if value is None else f'{value:.3f}':>8}")
    return "\n".join(lines)


def results_folder(out: str, create: bool = True) -> Path:
    """`--out` as a folder of evaluations: new, empty or made by an earlier evaluation."""
    from artengine.files import claim_folder

    return claim_folder(Path(out), "shapes evaluations", "--out", create=create)


def save_results(out: str, summary: dict, results: list[Graded]) -> list[Path]:
    """A contact sheet PNG and the JSON results in `out`, a folder of evaluations (new, empty or
    made by an earlier evaluation; never a folder of other files); existing files are never replaced."""
    from artengine.files import slugify, write_new

    from .sheet import contact_sheet

    folder = results_folder(out)
    stem = f"shapes-eval-{slugify(summary['generator'])}-{summary['objects']}obj-seed{summary['seed']}"
    mean = "-" if summary["mean"] is None else f"{summary['mean']:.3f}"
    title = (f"{summary['generator']}: mean accuracy {mean} on {summary['prompts']} prompts "
             f"with {summary['objects']} object(s), seed {summary['seed']}")
    sheet = contact_sheet([(r.image, r.prompt, r.marks) for r in results], title)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    sheet_path = write_new(folder / f"{stem}.png", buffer.getvalue())
    data = (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()
    return [sheet_path, write_new(folder / f"{stem}.json", data)]
