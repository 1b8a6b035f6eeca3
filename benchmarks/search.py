"""Figures of the search plugin on the shipped clip:shapes (or `--model SPEC`; CPU), printed as JSON.

    python benchmarks/search.py zero-shot   [--n 1000]            # classification among all 960 one-object captions
    python benchmarks/search.py order       [--n 1000]            # a two-object scene against its mirror
    python benchmarks/search.py text-search [--n 10000 --queries 200]
    python benchmarks/search.py throughput  [--files 1024 --rounds 3]
    python benchmarks/search.py latency     [--n 1000000 --dim 512 --queries 100]

zero-shot: fresh one-object scenes, each classified among every full one-object caption of the
  world (2 sizes x 8 colours x 4 shapes x 5 positions x 3 backgrounds = 960 labels, no
  template); top-1 accuracy, and how often each attribute of the top-1 label is right.
order: fresh two-object scenes, each classified between its full caption and the same caption
  with the two objects swapped ("a red circle to the left of a blue square" against "a blue
  square to the left of a red circle": the mirror scene), and the caption between the image
  and its mirror rendered; a bag-of-words CLIP scores both at chance (0.5).
text-search: N fresh one-object scenes written as `data shapes` writes them (PNG + caption)
  and indexed with `Index.build`; then fresh queries, as captions the world writes (phrases
  left out at random: `as_written`) and as full captions (`full`); a hit is right when its
  scene has every attribute the query names. For full captions few scenes can be right (about
  N/960 per query), so the figure is also given against that ceiling.
throughput: the same PNG files embedded (a) by a plain loop, one image at a time through the
  model's `encode_image`, (b) by the index's pipeline (hashing, decoding in threads, batches),
  (c) by the forward pass alone on already-decoded tensors; alternating rounds, paired ratios.
latency: N unit vectors of dimension D drawn around 10,000 random centres (cosine ~0.8 to
  their centre, as embeddings of a real collection cluster), stored as float16 as an index
  stores them, in the exact index (SQfp16: every vector scanned) and in
  the approximate one the index chooses for N; one query at a time, median milliseconds, and
  recall@10 of the approximate index against the exact one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pairing import paired_ratio  # noqa: E402  (after ROOT is on the path)

FRESH_SEED = 2_000_000  # far from the seeds training and the clip card's evaluation use


def all_one_object_captions() -> list[str]:
    from artengine.plugins.shapes.vocabulary import BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SIZES

    return [f"a {size} {colour} {shape} {position} on a {background} background"
            for size in SIZES for colour in COLOURS for shape in SHAPES for position in POSITIONS for background in BACKGROUNDS]


def zero_shot(args) -> dict:
    import artengine
    from artengine.plugins.search.classify import label_weights, probabilities, templates_for
    from artengine.plugins.search.embed import ImageEncoder
    from artengine.plugins.shapes.captions import parse_caption
    from artengine.plugins.shapes.dataset import ShapesPairs

    model = artengine.load_model(args.model, "cpu")
    labels = all_one_object_captions()
    pairs = ShapesPairs(args.n, FRESH_SEED, objects="1", omit=False)
    scenes = [pairs.scene(i) for i in range(args.n)]
    started = time.perf_counter()
    weights = label_weights(model, labels, templates_for([], []))
    embeddings = ImageEncoder(model, precision="float32").encode_images([pairs[i][0] for i in range(args.n)])
    top = probabilities(model, embeddings, weights).argmax(axis=1)
    seconds = time.perf_counter() - started
    keys = ("size", "colour", "shape", "position", "background")
    right = {key: 0 for key in keys}
    top1 = 0
    for scene, label in zip(scenes, top):
        guessed = parse_caption(labels[label]).attributes()
        truth = scene.attributes()
        top1 += guessed == truth
        for key in keys:
            right[key] += guessed[key] == truth[key]
    return {"figure": "zero-shot", "model": args.model, "images": args.n, "labels": len(labels),
            "top1": round(top1 / args.n, 4), "attribute_accuracy": {k: round(v / args.n, 4) for k, v in right.items()},
            "seconds": round(seconds, 1)}


def order(args) -> dict:
    from dataclasses import replace

    import torch

    import artengine
    from artengine.plugins.search.embed import ImageEncoder
    from artengine.plugins.shapes.captions import caption
    from artengine.plugins.shapes.dataset import ShapesPairs
    from artengine.plugins.shapes.render import render
    from artengine.plugins.shapes.scene import mirror

    model = artengine.load_model(args.model, "cpu")
    pairs = ShapesPairs(args.n, FRESH_SEED + 3, objects="2", omit=False)
    scenes = [pairs.scene(i) for i in range(args.n)]
    swapped = [replace(scene, objects=scene.objects[::-1]) for scene in scenes]
    mirrored = [mirror(scene, FRESH_SEED + i) for i, scene in enumerate(scenes)]
    with torch.no_grad():
        texts = model.encode_text([caption(s) for s in scenes + swapped]).float()
    texts = torch.nn.functional.normalize(texts, dim=-1)
    images = torch.from_numpy(ImageEncoder(model, precision="float32").encode_images(
        [render(s) for s in scenes + mirrored])).float()
    images = torch.nn.functional.normalize(images, dim=-1)
    n = args.n
    text_right = ((images[:n] * texts[:n]).sum(-1) > (images[:n] * texts[n:]).sum(-1)).float().mean()
    image_right = ((texts[:n] * images[:n]).sum(-1) > (texts[:n] * images[n:]).sum(-1)).float().mean()
    return {"figure": "order", "model": args.model, "scenes": n,
            "caption_above_swapped_caption": round(float(text_right), 4),
            "image_above_mirrored_image": round(float(image_right), 4)}


def write_scenes(folder: Path, count: int, seed: int) -> list:
    """`count` one-object scenes as `artengine data shapes --objects 1` writes them."""
    from artengine.plugins.shapes.dataset import ShapesPairs

    folder.mkdir(parents=True, exist_ok=True)
    pairs = ShapesPairs(count, seed, objects="1")
    scenes = []
    for i in range(count):
        image, (caption,) = pairs[i]
        image.save(folder / f"{i:05d}.png")
        (folder / f"{i:05d}.txt").write_text(caption + "\n")
        scenes.append(pairs.scene(i))
    return scenes


def text_search(args) -> dict:
    from artengine.plugins.search.index import EmbedSettings, Index
    from artengine.plugins.shapes.captions import caption
    from artengine.plugins.shapes.dataset import ShapesPairs

    with tempfile.TemporaryDirectory() as tmp:
        scenes = write_scenes(Path(tmp) / "scenes", args.n, FRESH_SEED + 1)
        started = time.perf_counter()
        index, report = Index.build([Path(tmp) / "scenes"], Path(tmp) / "idx", args.model,
                                    settings=EmbedSettings(device="cpu", precision=args.precision))
        build_seconds = time.perf_counter() - started
        number = {str((Path(tmp) / "scenes" / f"{i:05d}.png").resolve()): i for i in range(args.n)}
        queries = ShapesPairs(args.queries, FRESH_SEED + 2, objects="1")
        results = {}
        for variant in ("as_written", "full"):
            precision, ceiling = [], []
            for q in range(args.queries):
                scene = queries.scene(q)
                if variant == "full":
                    scene = type(scene)(scene.objects, scene.background, scene.relation, frozenset())
                named = scene.named()
                hits = index.search(caption(scene), k=10)
                precision.append(sum(all(scenes[number[h.path]].attributes()[k] == v for k, v in named.items()) for h in hits) / 10)
                relevant = sum(all(s.attributes()[k] == v for k, v in named.items()) for s in scenes)
                ceiling.append(min(relevant, 10) / 10)
            results[variant] = {"precision_at_10": round(statistics.mean(precision), 4),
                                "ceiling": round(statistics.mean(ceiling), 4),
                                "share_of_ceiling": round(statistics.mean(precision) / statistics.mean(ceiling), 4)}
    return {"figure": "text-search", "model": args.model, "indexed": report.count, "queries": args.queries,
            "precision": args.precision, "build_seconds": round(build_seconds, 1), **results}


def throughput(args) -> dict:
    import numpy as np
    import torch

    import artengine
    import artengine.files
    from artengine.plugins.clip.model import images_to_tensor
    from artengine.plugins.search.embed import ImageEncoder
    from artengine.plugins.search.files import find_images

    model = artengine.load_model(args.model, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        write_scenes(Path(tmp), args.files, FRESH_SEED + 3)
        entries = find_images([tmp])
        encoder = ImageEncoder(model, batch_size=args.batch_size, precision=args.precision)
        decoded = [encoder.transform(artengine.files.read_image(e.path, "benchmark")) for e in entries]

        def plain():
            with torch.no_grad():
                return np.concatenate([model.encode_image(images_to_tensor([artengine.files.read_image(e.path, "benchmark")])).numpy()
                                       for e in entries])

        def pipeline():
            return np.concatenate([emb for _, emb in encoder.embed_files(entries) if len(emb)])

        def forward():
            return np.concatenate([encoder.encode_tensors(torch.stack(decoded[i:i + args.batch_size]))
                                   for i in range(0, len(decoded), args.batch_size)])

        pipeline(), forward()  # warm-up
        times = {"plain": [], "pipeline": [], "forward": []}
        for _ in range(args.rounds):
            for name, job in (("plain", plain), ("pipeline", pipeline), ("forward", forward)):
                started = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - started)
        agree = float(np.abs(plain() - pipeline()).max())
    per_s = {name: round(args.files / statistics.median(t), 1) for name, t in times.items()}
    return {"figure": "throughput", "model": args.model, "files": args.files, "batch_size": args.batch_size,
            "precision": args.precision, "bf16": encoder.bf16, "workers": encoder.workers, "images_per_s": per_s,
            "pipeline_over_plain": round(paired_ratio(times["plain"], times["pipeline"]), 2),
            "pipeline_time_over_forward_time": round(paired_ratio(times["pipeline"], times["forward"]), 2),
            "max_abs_difference_to_plain": round(agree, 4), "threads": torch.get_num_threads()}


def latency(args) -> dict:
    import numpy as np

    from artengine.plugins.search import vectors

    rng = np.random.default_rng(0)

    def draw(count):
        centres = rng.standard_normal((10_000, args.dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        out = np.empty((count, args.dim), np.float32)
        for start in range(0, count, 100_000):
            part = min(100_000, count - start)
            points = centres[rng.integers(0, len(centres), part)] + 0.75 / np.sqrt(args.dim) * rng.standard_normal((part, args.dim), dtype=np.float32)
            out[start:start + part] = points / np.linalg.norm(points, axis=1, keepdims=True)
        return out, centres

    data, centres = draw(args.n)
    data = data.astype(np.float16).astype(np.float32)  # the values an index stores
    queries = centres[rng.integers(0, len(centres), args.queries)] + 0.75 / np.sqrt(args.dim) * rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    choice = vectors.choose(args.n, args.dim)
    started = time.perf_counter()
    exact = vectors.build(data, vectors.Choice(vectors.EXACT, None))
    approximate = vectors.build(data, choice)
    build_seconds = time.perf_counter() - started

    def timed(index):
        found, times = [], []
        for query in queries:
            begin = time.perf_counter()
            _, ids = vectors.search(index, query[None], 10)
            times.append((time.perf_counter() - begin) * 1000)
            found.append(ids[0])
        return found, statistics.median(times)

    truth, exact_ms = timed(exact)
    found, approximate_ms = timed(approximate)
    recall = statistics.mean(len(set(t) & set(f)) / 10 for t, f in zip(truth, found))
    return {"figure": "latency", "vectors": args.n, "dim": args.dim, "queries": args.queries,
            "exact": {"factory": vectors.EXACT, "median_ms": round(exact_ms, 2)},
            "approximate": {"factory": choice.factory, "nprobe": choice.nprobe, "median_ms": round(approximate_ms, 3),
                            "recall_at_10": round(recall, 4)},
            "build_seconds": round(build_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    figures = parser.add_subparsers(dest="figure", required=True)
    part = figures.add_parser("zero-shot")
    part.add_argument("--n", type=int, default=1000)
    part.add_argument("--model", default="clip:shapes")
    part = figures.add_parser("order")
    part.add_argument("--n", type=int, default=1000)
    part.add_argument("--model", default="clip:shapes")
    part = figures.add_parser("text-search")
    part.add_argument("--n", type=int, default=10_000)
    part.add_argument("--queries", type=int, default=200)
    part.add_argument("--model", default="clip:shapes")
    part.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    part = figures.add_parser("throughput")
    part.add_argument("--model", default="clip:shapes")
    part.add_argument("--files", type=int, default=1024)
    part.add_argument("--rounds", type=int, default=3)
    part.add_argument("--batch-size", type=int, default=64)
    part.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    part = figures.add_parser("latency")
    part.add_argument("--n", type=int, default=1_000_000)
    part.add_argument("--dim", type=int, default=512)
    part.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    run = {"zero-shot": zero_shot, "order": order, "text-search": text_search, "throughput": throughput, "latency": latency}[args.figure]
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
