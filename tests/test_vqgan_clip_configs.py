"""The shipped vqgan-clip config files resolve and run (here on the tiny models, a few steps)."""

import json
from pathlib import Path

import pytest

from tests.vqgan_clip_helpers import TINY, run_json, use_tiny_models

CONFIGS = Path(__file__).parent.parent / "configs"
QUICK = [*TINY, "--set", "generator.steps=2", "--set", "generator.cutn=2", "--set", "keep=0", "--set", "n=2"]


@pytest.fixture(autouse=True)
def tiny(host):
    use_tiny_models(host)


def test_the_generate_config_runs_with_its_losses_and_animation(cli):
    summary = run_json(cli("generate", "--config", CONFIGS / "vqgan-clip.toml", "--json", *QUICK))
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert set(run["images"][0]["metadata"]["losses"]) == {"clip", "tv"}
    assert len(list(Path(summary["run_dir"]).glob("*-progress.gif"))) == 2


def test_the_compare_config_runs_both_settings(cli):
    summary = run_json(cli("compare", "--config", CONFIGS / "vqgan-clip-compare.toml", "--json", *QUICK))
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert set(run["configurations"]) == {"few-steps", "more-cutouts"}
    assert (Path(summary["run_dir"]) / "grid.png").is_file()
