"""generate: run folders, PNG metadata, run.json, --json, seeds, keep, progress."""

import json
from pathlib import Path

from PIL import Image

from artengine.files import read_png_metadata


def generate(cli, *args):
    result = cli("generate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_document_lists_every_image(cli, tmp_path):
    document = generate(cli, "a red circle", "-g", "solid", "-n", "3", "--seed", "10")
    assert document["status"] == "complete"
    run_dir = Path(document["run_dir"])
    assert run_dir.parent == tmp_path / "outputs" and "a-red-circle" in run_dir.name
    assert [(i["seed"], i["rank"], i["generator"], i["prompt"], i["score"]) for i in document["images"]] == [
        (10, 1, "solid", "a red circle", None), (11, 2, "solid", "a red circle", None), (12, 3, "solid", "a red circle", None)
    ]
    assert all(Path(i["path"]).is_file() and Path(i["path"]).parent == run_dir for i in document["images"])


def test_png_carries_webui_parameters_and_the_resolved_config(cli):
    document = generate(cli, "a red circle|blue:-0.5", "-g", "solid", "--seed", "3", "--size", "32x16",
                        "--set", "generator.border=2")
    path = document["images"][0]["path"]
    with Image.open(path) as image:
        assert image.size == (32, 16)
        parameters = image.text["parameters"]
    assert parameters.splitlines() == [
        "a red circle",
        "Negative prompt: (blue:0.5)",
        "Seed: 3, Size: 32x16, Generator: solid, Brightness: 1.0, Border: 2, Version: artengine 0.1.0",
    ]
    record = read_png_metadata(path)
    assert record["prompt"] == "a red circle|blue:-0.5" and record["seed"] == 3 and record["rank"] == 1
    assert record["config"]["generator"] == {"name": "solid", "brightness": 1.0, "border": 2}
    assert record["config"]["device"] == "cpu" and record["config"]["size"] == "32x16"
    assert record["plugins"] == {"artengine": "0.1.0", "test-plugins": "1.2.3"}
    assert record["metadata"]["colour"]


def test_run_json_records_images_scores_ranks_and_timings(cli):
    document = generate(cli, "a red circle", "-g", "solid", "-n", "4", "--keep", "2", "--scorer", "redness", "--seed", "1")
    run = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    assert run["status"] == "complete" and run["kind"] == "generate"
    assert run["command"] == ["artengine", "generate", "a red circle", "-g", "solid", "-n", "4", "--keep", "2",
                              "--scorer", "redness", "--seed", "1", "--json"]
    assert [image["rank"] for image in run["images"]] == [1, 2]
    assert len(run["discarded"]) == 2
    best = [image["score"] for image in run["images"]]
    assert best == sorted(best, reverse=True)
    assert all(d["score"] <= min(best) for d in run["discarded"])
    timings = run["images"][0]["timings"]
    assert set(timings) == {"generate_s", "candidates", "per_image_s", "score_s"} and timings["candidates"] == 4
    assert abs(timings["per_image_s"] - timings["generate_s"] / 4) < 1e-4
    assert run["configurations"]["solid"]["scorer"] == {"name": "redness", "scale": 1.0}


def test_keep_keeps_the_best_by_score(cli):
    document = generate(cli, "red", "-g", "solid", "-n", "6", "--keep", "1", "--scorer", "redness", "--seed", "0")
    run = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    scores = [document["images"][0]["score"]] + [d["score"] for d in run["discarded"]]
    assert document["images"][0]["score"] == max(scores)


def test_same_seed_gives_bit_identical_pngs(cli):
    first = generate(cli, "a green thing", "-g", "solid", "-n", "2", "--seed", "99")
    second = generate(cli, "a green thing", "-g", "solid", "-n", "2", "--seed", "99")
    assert first["run_dir"] != second["run_dir"]
    for a, b in zip(first["images"], second["images"]):
        assert Path(a["path"]).read_bytes() == Path(b["path"]).read_bytes()


def test_without_a_seed_one_is_drawn_and_recorded(cli):
    document = generate(cli, "red", "-g", "solid", "-n", "2")
    seeds = [image["seed"] for image in document["images"]]
    assert seeds[1] == (seeds[0] + 1) % 2**32
    assert read_png_metadata(document["images"][0]["path"])["config"]["seed"] == seeds[0]


def test_several_prompts_from_a_file(cli, tmp_path):
    (tmp_path / "prompts.txt").write_text("# shapes\nred\n\nblue:2|green:-1\n")
    document = generate(cli, "--prompts", "prompts.txt", "-g", "solid", "--seed", "5")
    assert [image["prompt"] for image in document["images"]] == ["red", "blue:2|green:-1"]
    assert [image["seed"] for image in document["images"]] == [5, 5]  # the same seeds for every prompt


def test_runs_never_share_a_folder_or_overwrite(cli, tmp_path):
    runs = {generate(cli, "red", "-g", "solid", "--seed", "1")["run_dir"] for _ in range(3)}
    assert len(runs) == 3
    assert len(list((tmp_path / "outputs").iterdir())) == 3


def test_out_folder_is_used_and_created(cli, tmp_path):
    document = generate(cli, "red", "-g", "solid", "--seed", "1", "--out", "deep/er/out")
    assert Path(document["run_dir"]).parent == tmp_path / "deep/er/out"


def test_previews_sent_through_progress_are_saved(cli):
    document = generate(cli, "red", "-g", "solid", "-n", "2", "--seed", "1")
    previews = sorted(p.name for p in (Path(document["run_dir"]) / "previews").iterdir())
    assert previews == ["solid-p1-00001.png", "solid-p1-00002.png"]


def test_text_output_lists_paths_and_progress_stays_off_stdout(cli):
    result = cli("generate", "red", "-g", "solid", "-n", "2", "--seed", "1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(".png  seed" in line for line in lines)
    assert "2 image(s) in" in result.stderr


def test_no_temporary_files_are_left_behind(cli):
    document = generate(cli, "red", "-g", "solid", "-n", "3", "--seed", "1")
    names = [p.name for p in Path(document["run_dir"]).rglob("*")]
    assert not [n for n in names if ".tmp-" in n]


def test_extra_files_of_a_candidate_are_saved_beside_its_png(cli):
    document = generate(cli, "red", "-g", "solid", "--seed", "1")
    png = Path(document["images"][0]["path"])
    extra = png.with_name(png.stem + "-colour.txt")
    assert extra.read_text().startswith("(")
