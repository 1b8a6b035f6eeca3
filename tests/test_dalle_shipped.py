"""The shipped `dalle:shapes`: installed, small, listed with its card's figures, as good as its card says."""

import json
from pathlib import Path

import pytest

import artengine
import artengine.plugins.clip
import artengine.plugins.dalle
import artengine.plugins.unclip
import artengine.plugins.vqgan

SHIPPED = Path(artengine.plugins.dalle.__file__).parent / "weights" / "shapes"
ALL_WEIGHTS = [Path(p.__file__).parent / "weights" for p in (artengine.plugins.clip, artengine.plugins.dalle, artengine.plugins.unclip,
                                                              artengine.plugins.vqgan)]


@pytest.fixture(autouse=True)
def shipped(builtin_plugins):
    artengine.load_model("dalle:shapes", "cpu")  # missing weights are a packaging mistake: the test fails


def card_figures() -> dict:
    return json.loads((SHIPPED / "artengine_dalle.json").read_text())["card"]["figures"]


def test_the_checkpoint_is_one_self_contained_folder_of_at_most_15_mb():
    files = {path.name: path.stat().st_size for path in SHIPPED.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "artengine_dalle.json", "README.md"} <= set(files)
    assert sum(files.values()) <= 15 * 1024 * 1024


def test_all_shipped_weights_together_stay_within_45_mb():
    total = sum(path.stat().st_size for folder in ALL_WEIGHTS for path in folder.rglob("*") if path.is_file())
    assert total <= 45 * 1024 * 1024


def test_it_was_trained_over_the_shipped_vqgan():
    config = json.loads((SHIPPED / "artengine_dalle.json").read_text())
    assert config["vqgan"]["spec"] == "vqgan:shapes"


def test_list_models_shows_it_with_its_card_figures(cli):
    result = cli("list", "models")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("dalle:shapes"))
    for key, value in card_figures().items():
        assert f"{key}: {value}" in line


@pytest.mark.slow
def test_reranked_single_object_fidelity_holds_on_fresh_prompts(cli):
    """The card's single-object claim at a tenth of its scale, on other prompts and seeds."""
    result = cli("eval", "shapes", "-g", "dalle", "-n", "8", "--keep", "1", "--n-prompts", "20", "--seed", "123",
                 "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mean"] >= 0.9
