"""DALL·E Mini through `dalle-bart:` against min-dalle, over many captions: where do they part?

For random folders in min-dalle's layout (`artengine data dalle-bart-random`, tiny size, one
per seed) with each vocabulary (`trained`: the folder's own, written by `tokenizers` as the
published files are; `toy`: the letters-and-pairs BPE of the DALL·E Mini report, its merges.txt
without a final newline), and 50 captions of 0 to 70 words, at guidance 1 and 16:

- teacher forced: min-dalle's greedy codes (`MinDalle.generate_raw_image_stream`, top_k=1) fed
  to artengine's sampler (the generator's text rows, float32), the largest difference of the
  logits after guidance over the 256 steps;
- free running: whether artengine's greedy codes differ from min-dalle's, and for each caption
  that does, the first differing step and the top-two gap of both sides' logits there. Both
  follow min-dalle's codes until artengine's best code differs from min-dalle's code, so the
  first differing step is the first where the teacher-forced logits' argmax does (which spares
  a second run of the sampler; top_k=1 picks the argmax, a random one only among exact ties).

A divergence whose min-dalle gap is below twice the teacher-forced difference at that step is a
near-tie (rounding alone can swap the two best codes); anything else is a real difference.
Captions longer than the 64 text positions are counted apart: there min-dalle's unconditional
row is `<s>` and the caption's 64th token, artengine's `<s></s>` (docs/dalle.md), so they part
at guidance 16 by design. min-dalle is a test dependency; it runs in this process.

    python benchmarks/min_dalle_equivalence.py                  # 3 seeds x 2 vocabularies: ~2 CPU-minutes each
    python benchmarks/min_dalle_equivalence.py --seeds 0 --vocab toy
Prints one JSON line per folder and vocabulary as each is done.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("a painting of a fox in the snow an avocado armchair red circle to the left blue square green triangle "
         "sunset over sea with boats and birds portrait dog wearing glasses skyline city at night lit by moon "
         "bowl soup that looks like monster knitted out wool photo cat sitting on sofa zebra quokka xylophone").split()
CAPTIONS = [
    "", "a", "an", "fox", "an avocado armchair", "a red circle to the left of a blue square", "Ant", "ANT HILL!",
    "café crème 🥑 at night", "  two   spaces\tand a tab ", "zebra quokka xylophone", "a fire in the rain",
    "the skyline of a city at night, lit by the moon", "a bowl of soup that looks like a monster, knitted out of wool",
    "an armchair in the shape of an avocado", "an ant and an anteater", "rain", "answer", "a portrait of a dog",
    "sunset over the sea with boats and birds",
]
CAPTIONS += [" ".join(WORDS[(7 * k + i) % len(WORDS)] for i in range(length))
             for k, length in enumerate([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                         35, 40, 45, 50, 55, 60, 65, 70, 12, 6])]
GUIDANCES = (1.0, 16.0)
G = "\u0120"
TOY_MERGES = [f"{G} {c}" for c in string.ascii_lowercase] + ["e r", "i n", "a n", "r e", "e d", "o n", "i r", "a r",
                                                                 f"{G}a n"]


def write_toy_vocabulary(model: Path) -> None:
    """The report's toy BPE over the folder's own: merges.txt with no newline after 'Ġa n'."""
    tokens = ["<s>", "<pad>", "</s>", "<unk>", G, *string.ascii_lowercase, *(G + c for c in string.ascii_lowercase),
              *(merge.replace(" ", "") for merge in TOY_MERGES[26:])]
    (model / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (model / "merges.txt").write_text("#version: 0.2\n" + "\n".join(TOY_MERGES), encoding="utf-8")


def top_two_gap(logits) -> float:
    best = logits.topk(2).values
    return float(best[0] - best[1])


def compare(dalle, model: Path, caption: str) -> list[dict]:
    """One row per guidance: how artengine's codes and logits for `caption` meet min-dalle's."""
    from artengine.plugins.dalle.bart.random_folder import SIZES
    from tests.min_dalle_oracle import bart_answers
    from tests.test_dalle_bart_min_dalle import forced_logits

    shape = dalle.lm.shape
    dims = dict(SIZES["tiny"], heads=shape.heads)
    runs = [{"caption": caption, "supercondition": g} for g in GUIDANCES]
    answers = bart_answers({"model": str(model), "dims": dims, "captions": [caption], "samples": runs,
                            "text_rows": dalle.text(["", caption]).tolist(), "codes": [[0]]})
    tokens = answers["tokens"][0]
    rows = []
    for index, guidance in enumerate(GUIDANCES):
        theirs, their_logits = answers["samples"][index], answers["sample_logits"][index]
        forced = forced_logits(dalle, caption, guidance, theirs)
        noise = (forced - their_logits).abs().amax(-1)  # per step
        differ = (forced.argmax(-1) != theirs).nonzero()
        row = {"caption": caption, "guidance": guidance, "tokens": len(tokens), "cut": len(tokens) > 64,
               "same_ids": dalle.tokenizer.ids(caption) == tokens, "forced_max_diff": float(noise.max()),
               "codes_differ": bool(len(differ))}
        if len(differ):
            step = int(differ[0])
            # both sides have read the same codes up to `step`: ours there are the forced logits
            row |= {"first_step": step, "gap_min_dalle": top_two_gap(their_logits[step]),
                    "gap_artengine": top_two_gap(forced[step]), "diff_at_step": float(noise[step])}
            row["near_tie"] = row["gap_min_dalle"] < 2 * row["diff_at_step"]
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> dict:
    out = {}
    for guidance in GUIDANCES:
        fit = [r for r in rows if r["guidance"] == guidance and not r["cut"]]
        cut = [r for r in rows if r["guidance"] == guidance and r["cut"]]
        differ = [r for r in fit if r["codes_differ"]]
        out[f"guidance {guidance:g}"] = {
            "captions": len(fit), "ids_differ": sum(not r["same_ids"] for r in fit), "codes_differ": len(differ),
            "near_ties": sum(r["near_tie"] for r in differ), "real": sum(not r["near_tie"] for r in differ),
            "forced_max_diff": max((r["forced_max_diff"] for r in fit), default=None),
            "cut_captions": len(cut), "cut_forced_max_diff": max((r["forced_max_diff"] for r in cut), default=None),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--vocab", choices=["trained", "toy", "both"], default="both")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", action="store_true", help="also print every caption's row")
    parser.add_argument("--captions", type=int, default=len(CAPTIONS), help="the first N captions only")
    args = parser.parse_args()

    import min_dalle  # noqa: F401 - first: importing it switches autograd off and sets the thread count
    import torch

    from artengine.plugins.dalle.bart.bundle import load_dalle_bart
    from artengine.plugins.dalle.bart.random_folder import write_random_folder

    torch.set_num_threads(args.threads)
    vocabularies = ["trained", "toy"] if args.vocab == "both" else [args.vocab]
    with tempfile.TemporaryDirectory(prefix="min-dalle-equivalence-") as tmp:
        for seed in args.seeds:
            root = Path(tmp, str(seed))
            model = write_random_folder(root, "tiny", seed=seed, image_encoder=False)
            for vocab in vocabularies:
                if vocab == "toy":
                    write_toy_vocabulary(model)
                dalle = load_dalle_bart(str(root))
                rows = [row for caption in CAPTIONS[: args.captions] for row in compare(dalle, model, caption)]
                report = {"seed": seed, "vocabulary": vocab, "captions": args.captions} | summary(rows) | (
                    {"rows": rows} if args.rows else {"divergences": [r for r in rows if r["codes_differ"]]})
                print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
