"""Figures of the unclip generator that `artengine eval shapes` does not print.

    python benchmarks/unclip_figures.py variations [--model unclip:shapes] [--count 100]
        an image's variations: render fresh one-object scenes, draw one variation of each
        (generator.image), read the attributes back; prints the share of attributes kept
    python benchmarks/unclip_figures.py speed [--model unclip:shapes] [--rounds 3]
        8 candidates of one prompt at the default steps, unclip against dalle:shapes, rounds
        interleaved (the machine's load cancels in each round's ratio)
    python benchmarks/unclip_figures.py kandinsky [--rounds 3] [--device cuda]
        a tiny random Kandinsky 2.2 folder: artengine's images/s against diffusers' own pipelines
        on the same folder, seeds and steps

Each prints one JSON document. Prompt fidelity is `artengine eval shapes -g unclip`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)


DEVICE = "cpu"


def request(generator: str, prompt: str, seeds, options: dict, size=(64, 64)):
    import artengine
    from artengine import Request, get_registry, parse_prompt

    cls = get_registry().get("generator", generator)
    resolved = artengine.resolve_options(cls.options, options, "generator")
    return cls(resolved, DEVICE), Request(parse_prompt(prompt), tuple(seeds), size, DEVICE, resolved)


def quiet(step, total, preview=None, figures=None):
    pass


def variations(model: str, count: int) -> dict:
    from artengine.plugins.shapes.reader import grade, read_attributes
    from artengine.plugins.shapes.render import render
    from artengine.plugins.shapes.scene import sample_scene

    rng = random.Random("unclip variations")
    kept = total = 0
    per_attribute: dict[str, list[bool]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for number in range(count):
            scene = sample_scene(rng, 1, omit=False)
            path = Path(folder) / f"{number}.png"
            render(scene).save(path)
            generator, req = request("unclip", "a variation", [number], {"model": model, "image": str(path)})
            image = generator.generate(req, quiet)[0].image
            marks = grade(scene, read_attributes(image, objects=1))
            for key, right in marks.items():
                per_attribute.setdefault(key, []).append(right)
            kept += sum(marks.values())
            total += len(marks)
    return {"model": model, "renders": count, "attributes_kept": round(kept / total, 3),
            "per_attribute": {key: round(sum(v) / len(v), 3) for key, v in per_attribute.items()}}


def speed(model: str, rounds: int) -> dict:
    prompt, seeds = "a red circle to the left of a blue square", range(8)
    timings = {"unclip": [], "dalle": []}
    for _ in range(rounds + 1):  # the first round warms up (loads the models)
        for name, options in (("unclip", {"model": model}), ("dalle", {})):
            generator, req = request(name, prompt, seeds, options)
            started = time.perf_counter()
            generator.generate(req, quiet)
            timings[name].append(time.perf_counter() - started)
    unclip, dalle = timings["unclip"][1:], timings["dalle"][1:]
    return {"model": model, "candidates": 8, "unclip_s": [round(t, 3) for t in unclip],
            "dalle_s": [round(t, 3) for t in dalle], "unclip_over_dalle": round(paired_ratio(unclip, dalle), 3)}


def kandinsky(rounds: int) -> dict:
    import torch
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

    from tests.unclip_helpers import make_kandinsky

    with tempfile.TemporaryDirectory() as folder:
        prior, decoder = make_kandinsky(Path(folder))
        prior_pipe = KandinskyV22PriorPipeline.from_pretrained(prior).to(DEVICE)
        pipe = KandinskyV22Pipeline.from_pretrained(decoder).to(DEVICE)
        for p in (prior_pipe, pipe):
            p.set_progress_bar_config(disable=True)
        count, steps = 8, 10
        options = {"model": f"unclip:{prior},{decoder}", "prior_steps": steps, "decoder_steps": steps,
                   "precision": "fp32", "batch_size": 8}
        ours, theirs = [], []
        for _ in range(rounds + 1):
            generator, req = request("unclip", "a red circle", range(count), options, size=(64, 64))
            started = time.perf_counter()
            generator.generate(req, quiet)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            generators = [torch.Generator().manual_seed(seed) for seed in range(count)]  # on the CPU, as artengine's
            out = prior_pipe("a red circle", num_images_per_prompt=count, num_inference_steps=steps,
                             generator=generators)
            pipe(image_embeds=out.image_embeds, negative_image_embeds=out.negative_image_embeds, height=64, width=64,
                 num_inference_steps=steps, generator=generators)
            theirs.append(time.perf_counter() - started)
    ours, theirs = ours[1:], theirs[1:]
    return {"images": count, "steps": steps, "artengine_s": [round(t, 3) for t in ours],
            "diffusers_s": [round(t, 3) for t in theirs],
            "artengine_images_per_s_over_diffusers": round(paired_ratio(theirs, ours), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=("variations", "speed", "kandinsky"))
    parser.add_argument("--model", default="unclip:shapes")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    from artengine.discovery import get_registry

    get_registry()  # load the installed plugins
    if args.figure == "variations":
        result = variations(args.model, args.count)
    elif args.figure == "speed":
        result = speed(args.model, args.rounds)
    else:
        result = kandinsky(args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
