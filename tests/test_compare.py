"""compare: configurations x the same prompts and seeds -> grid.png, index.html, run.json."""

import json
from pathlib import Path

import pytest

from PIL import Image

from artengine.files import read_png_metadata


def compare(cli, *args):
    result = cli("compare", *args, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return document, Path(document["run_dir"])


def test_each_configuration_gets_the_same_prompts_and_seeds(cli):
    document, run_dir = compare(cli, "a red thing", "-g", "solid", "-g", "slow", "-n", "2", "--seed", "8")
    by_config = {}
    for image in document["images"]:
        by_config.setdefault(image["configuration"], []).append((image["prompt"], image["seed"]))
    assert by_config == {"solid": [("a red thing", 8), ("a red thing", 9)], "slow": [("a red thing", 8), ("a red thing", 9)]}
    assert (run_dir / "grid.png").is_file() and (run_dir / "index.html").is_file()
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "compare"


def test_named_configurations_let_one_generator_appear_with_different_options(cli, tmp_path):
    config = tmp_path / "compare.toml"
    config.write_text(
        'prompts = ["red", "blue"]\nseed = 3\n'
        '[configurations.plain]\ngenerator = "solid"\n'
        '[configurations.framed]\ngenerator = { name = "solid", border = 4 }\n'
    )
    document, run_dir = compare(cli, "--config", config)
    assert len(document["images"]) == 4
    framed = [i for i in document["images"] if i["configuration"] == "framed"]
    assert read_png_metadata(framed[0]["path"])["config"]["generator"]["border"] == 4
    with Image.open(framed[0]["path"]) as image:
        assert image.getpixel((0, 0)) == (0, 0, 0)
    html = (run_dir / "index.html").read_text()
    assert "plain" in html and "framed" in html and "border=4" in html


def test_axis_sweeps_a_key_over_every_configuration(cli):
    document, run_dir = compare(cli, "red", "-g", "solid", "--axis", "generator.border=0,2,4",
                                "--axis", "generator.brightness=0.5,1.0", "--seed", "1")
    names = sorted({i["configuration"] for i in document["images"]})
    assert len(names) == 6
    assert "solid border=2 brightness=0.5" in names
    record = read_png_metadata(next(i for i in document["images"] if i["configuration"] == "solid border=4 brightness=1.0")["path"])
    assert record["config"]["generator"] == {"name": "solid", "border": 4, "brightness": 1.0}


def test_grid_has_a_row_per_configuration_and_a_column_per_prompt_and_candidate(cli):
    _, run_dir = compare(cli, "red", "-g", "solid", "--axis", "generator.border=0,8", "-n", "3", "--seed", "1")
    with Image.open(run_dir / "grid.png") as grid:
        width, height = grid.size
        top = next(y for y in range(height) if len(set(grid.getpixel((width - 10, y)))) > 1)
        first_image = first_coloured_x(grid, y=top + 64)  # in the first row, which has no border
        label_text_end = rightmost_dark_x(grid, 0, first_image)
    # 64 px images are shown at 128 px; 3 columns and 2 rows, after a label column as wide as its text
    assert width - first_image == 3 * (128 + 6) and 2 * 128 <= height < 3 * 128 + 80
    assert 0 < first_image - label_text_end <= 3 * 6


def first_coloured_x(image, y):
    return next(x for x in range(image.width) if len(set(image.getpixel((x, y)))) > 1)


def rightmost_dark_x(image, left, right):
    return max(x for x in range(left, right) for y in range(image.height) if sum(image.getpixel((x, y))) < 300)


def test_report_gives_each_image_its_share_of_the_batch_time(cli):
    _, run_dir = compare(cli, "red", "-g", "solid", "-n", "3", "--seed", "1")
    html = (run_dir / "index.html").read_text()
    assert html.count(" s per image (3 made in ") == 3


def test_a_typo_in_any_configuration_fails_before_any_work(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('prompt = "red"\n[configurations.a]\ngenerator = "solid"\n[configurations.b]\ngenerator = { name = "solid", bordr = 1 }\n')
    result = cli("compare", "--config", config)
    assert result.exit_code == 2
    assert f"config file '{config}', configuration 'b': unknown option 'generator.bordr'" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_configurations_must_be_tables(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('prompt = "red"\nconfigurations = 3\n')
    result = cli("compare", "--config", config)
    assert result.exit_code == 2 and "'configurations' must hold tables" in result.stderr


def test_set_reaches_every_configuration_whose_generator_has_the_option(cli):
    document, _ = compare(cli, "red", "-g", "solid", "-g", "slow", "--seed", "1",
                          "--set", "generator.border=3", "--set", "generator.steps=2", "--set", "n=2")
    solid = [i for i in document["images"] if i["configuration"] == "solid"]
    slow = [i for i in document["images"] if i["configuration"] == "slow"]
    assert len(solid) == 2 and len(slow) == 2
    assert read_png_metadata(solid[0]["path"])["config"]["generator"]["border"] == 3
    assert read_png_metadata(slow[0]["path"])["config"]["generator"]["steps"] == 2


def test_set_reaches_named_configurations_and_axis_sweeps(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('prompt = "red"\nseed = 1\n[configurations.a]\ngenerator = "solid"\n'
                      '[configurations.b]\ngenerator = { name = "solid", border = 1 }\n')
    document, _ = compare(cli, "--config", config, "--set", "generator.brightness=0.5",
                          "--axis", "generator.border=0,2")
    assert len(document["images"]) == 4
    assert {read_png_metadata(i["path"])["config"]["generator"]["brightness"] for i in document["images"]} == {0.5}


def test_set_that_fits_no_configuration_is_an_error_naming_the_key(cli, tmp_path):
    result = cli("compare", "red", "-g", "solid", "-g", "slow", "--set", "generator.bordr=3")
    assert result.exit_code == 2
    assert "--set generator.bordr: no configuration's generator has an option 'bordr'" in result.stderr
    assert "solid, slow" in result.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("second, stop_at, status", [
    ('"solid"', None, "complete"),
    ('{ name = "slow", steps = 4 }', "2", "interrupted"),
    ('"crashing"', None, "failed"),
])
def test_the_report_says_how_the_run_ended(cli, tmp_path, monkeypatch, second, stop_at, status):
    config = tmp_path / "c.toml"
    config.write_text(f'prompt = "red"\nseed = 1\n[configurations.a]\ngenerator = "solid"\n'
                      f"[configurations.b]\ngenerator = {second}\n")
    if stop_at:
        monkeypatch.setenv("TEST_STOP_AT_STEP", stop_at)
    result = cli("compare", "--config", config, "--json")
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == status
    html = (run_dir / "index.html").read_text()
    assert f'status: <b class="status">{status}</b>' in html and "running" not in html


@pytest.mark.parametrize("args", [("-g", "solid", "-g", "slow", "--set", "seed=-1"),
                                  ("-g", "solid", "-g", "slow", "--axis", "seed=-1,5"),
                                  ("--config", "c.toml")], ids=["set", "axis", "configuration"])
def test_seed_minus_one_anywhere_means_the_one_seed_drawn_for_every_configuration(cli, tmp_path, args):
    (tmp_path / "c.toml").write_text('[configurations.a]\ngenerator = "solid"\nseed = -1\n'
                                     '[configurations.b]\ngenerator = "slow"\n')
    document, _ = compare(cli, "red", *args)
    seeds = {i["configuration"]: i["seed"] for i in document["images"]}
    drawn = {seed for name, seed in seeds.items() if not name.endswith("seed=5")}
    assert len(seeds) >= 2 and len(drawn) == 1 and -1 not in drawn
