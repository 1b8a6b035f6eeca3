"""The main job of `make demo`: the four generators on the shipped models, compared side by side."""

import json
from pathlib import Path

import pytest

import artengine

CONFIG = Path(__file__).parent.parent / "configs" / "shapes-compare.toml"


@pytest.fixture(autouse=True)
def shipped(builtin_plugins):
    for spec in ("vqgan:shapes", "clip:shapes", "dalle:shapes", "unclip:shapes"):
        artengine.load_model(spec, "cpu")  # missing weights are a packaging mistake: the test fails


@pytest.mark.slow
def test_the_demo_compares_the_four_generators_on_the_demo_prompts(cli, tmp_path):
    result = cli("compare", "--config", str(CONFIG), "--out", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    run_dir = Path(report["run_dir"])
    assert (run_dir / "grid.png").is_file() and (run_dir / "index.html").is_file()
    assert 'status: <b class="status">complete</b>' in (run_dir / "index.html").read_text()
    prompts = [line for line in (CONFIG.parent.parent / "prompts" / "demo.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    made = {(image["generator"], image["prompt"]) for image in report["images"]}
    assert made == {(generator, prompt) for generator in ("vqgan-clip", "dalle", "unclip", "clip-diffusion")
                    for prompt in prompts}
