"""`artengine eval shapes`: prompt fidelity measured with the attribute reader.

The generators and the scorer here are test fixtures, not shipped plugins: `oracle` draws
exactly what the prompt says (with the world's own parser and renderer), `noise` paints
noise, `first-noise` paints noise for its first candidate only, `stops-at-once` is stopped
as by Ctrl-C, and `fewest-colours` prefers flat images.
"""

import json
import random

import numpy as np
import pytest
from PIL import Image

import artengine
import artengine.plugins.shapes
from artengine import Candidate, Generator, Scorer
from artengine.plugins.shapes.world import parse_caption, realise, render


def oracle_image(request, seed):
    return render(realise(parse_caption(request.prompt.positive[0].text), random.Random(seed)))


def noise_image(request, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (request.size[1], request.size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


class Oracle(Generator):
    name = "oracle"
    description = "Renders the prompt exactly."

    def generate(self, request, progress):
        return [Candidate(oracle_image(request, seed), seed) for seed in request.seeds]


class Noise(Generator):
    name = "noise"
    description = "Paints noise."

    def generate(self, request, progress):
        return [Candidate(noise_image(request, seed), seed) for seed in request.seeds]


class FirstNoise(Generator):
    name = "first-noise"
    description = "Noise for the first candidate, the prompt's picture for the others."

    def generate(self, request, progress):
        return [Candidate((noise_image if i == 0 else oracle_image)(request, seed), seed)
                for i, seed in enumerate(request.seeds)]


class StopsAtOnce(Generator):
    name = "stops-at-once"
    description = "Is stopped (as by Ctrl-C) before it finishes its first candidate."

    def generate(self, request, progress):
        progress.request_stop()
        try:
            progress(1, 2)
        except artengine.StopRequested:
            return []
        raise AssertionError("progress should have raised StopRequested")


class FewestColours(Scorer):
    name = "fewest-colours"
    description = "Higher for images with fewer distinct colours."

    def score(self, images, prompt):
        return [-len(image.getcolors(64 * 64) or range(64 * 64)) for image in images]


class EvalTestPlugin:
    @artengine.hookimpl
    def register_generators(self, register):
        for generator in (Oracle, Noise, FirstNoise, StopsAtOnce):
            register(generator)

    @artengine.hookimpl
    def register_scorers(self, register):
        register(FewestColours)


@pytest.fixture(autouse=True)
def plugins_used(host):
    host.add(artengine.plugins.shapes, name="shapes")
    host.add(EvalTestPlugin(), name="eval-test-plugins")


@pytest.fixture
def evaluate(cli):

    def run(*args):
        result = cli("eval", "shapes", "--json", "--device", "cpu", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


def test_a_generator_that_draws_the_prompt_scores_one(evaluate):
    summary = evaluate("-g", "oracle", "--n-prompts", 40, "--seed", 1)
    assert summary["prompts"] == 40 and summary["objects"] == 1 and summary["status"] == "complete"
    assert summary["accuracy"] == dict.fromkeys(["background", "colour", "shape", "size", "position"], 1.0)
    assert summary["mean"] == 1.0 and summary["all_correct"] == 1.0
    first = summary["results"][0]
    assert first["read"] == first["expected"]
    assert None not in parse_caption(first["prompt"]).attributes().values()  # full prompts


def test_two_object_prompts_are_graded_on_both_objects_and_the_relation(evaluate):
    summary = evaluate("-g", "oracle", "--n-prompts", 20, "--objects", 2, "--seed", 2)
    assert set(summary["accuracy"]) == {"background", "first_colour", "first_shape", "relation",
                                        "second_colour", "second_shape"}
    assert summary["mean"] == 1.0
    assert all(parse_caption(r["prompt"]).relation for r in summary["results"])


def test_a_generator_that_paints_noise_scores_low(evaluate):
    summary = evaluate("-g", "noise", "--n-prompts", 40, "--seed", 1)
    assert summary["mean"] < 0.3 and summary["all_correct"] == 0.0


def test_the_top_ranked_candidate_is_the_one_graded(evaluate):
    unranked = evaluate("-g", "first-noise", "-n", 2, "--n-prompts", 10, "--seed", 3, "--scorer", "none")
    ranked = evaluate("-g", "first-noise", "-n", 2, "--keep", 1, "--n-prompts", 10, "--seed", 3,
                      "--scorer", "fewest-colours")
    assert unranked["mean"] < 0.3
    assert ranked["mean"] == 1.0
    assert ranked["config"]["scorer"]["name"] == "fewest-colours"


def test_the_seed_fixes_the_prompts(evaluate):
    prompts = [[r["prompt"] for r in evaluate("-g", "noise", "--n-prompts", 8, "--seed", s)["results"]]
               for s in (5, 5, 6)]
    assert prompts[0] == prompts[1] != prompts[2]


def test_the_text_report_is_a_table_of_accuracies(cli):
    result = cli("eval", "shapes", "-g", "oracle", "--n-prompts", 5, "--seed", 0)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "'oracle'" in lines[0] and "5 prompts" in lines[0] and "seed 0" in lines[0]
    table = {" ".join(line.split()[:-1]): line.split()[-1] for line in lines[2:]}
    assert table == {"background": "1.000", "colour": "1.000", "shape": "1.000", "size": "1.000",
                     "position": "1.000", "mean": "1.000", "all correct": "1.000"}


def test_out_saves_a_contact_sheet_and_the_results(evaluate, tmp_path):
    summary = evaluate("-g", "noise", "--n-prompts", 12, "--seed", 4, "--out", "report")
    sheets = list((tmp_path / "report").glob("*.png"))
    assert len(sheets) == 1
    with Image.open(sheets[0]) as sheet:
        assert sheet.width > 10 * 128 and sheet.height > 2 * 128
    saved = json.loads(next((tmp_path / "report").glob("*.json")).read_text())
    assert saved == summary
    evaluate("-g", "noise", "--n-prompts", 12, "--seed", 4, "--out", "report")
    assert len(list((tmp_path / "report").glob("*.png"))) == 2  # a second run never replaces the first


def test_generator_options_and_mistakes_go_through_the_core_checks(cli):
    result = cli("eval", "shapes", "-g", "solid", "--n-prompts", 3, "--seed", 0, "--set", "generator.border=2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["generator"] == {"name": "solid", "brightness": 1.0, "border": 2}
    for args, complaint in [(["-g", "nope"], "unknown generator 'nope'"),
                            (["-g", "solid", "--set", "generator.colour=1"], "colour"),
                            (["-g", "solid", "--keep", "2", "-n", "1", "--scorer", "redness"], "keep"),
                            (["-g", "solid", "--objects", "3"], "3")]:
        result = cli("eval", "shapes", "--n-prompts", 2, *args)
        assert result.exit_code == 2 and complaint in result.output and "Traceback" not in result.output


def test_stopping_reports_what_was_graded_and_exits_130(cli):
    result = cli("eval", "shapes", "-g", "stops-at-once", "--n-prompts", 3, "--seed", 0, "--device", "cpu", "--json")
    assert result.exit_code == 130
    summary = json.loads(result.stdout)
    assert summary["status"] == "interrupted" and summary["prompts"] == 0 and summary["prompts_drawn"] == 3
    assert "stopped by the user after 0 of 3 prompts" in result.stderr
