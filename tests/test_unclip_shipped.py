"""The shipped `unclip:shapes`: installed, small, in diffusers' layout, listed with its card's
figures, and drawing what its card says through the CLI."""

import json
from pathlib import Path

import pytest

import artengine
import artengine.plugins.unclip

SHIPPED = Path(artengine.plugins.unclip.__file__).parent / "weights" / "shapes"


@pytest.fixture(autouse=True)
def shipped(builtin_plugins):
    artengine.load_model("unclip:shapes", "cpu")  # missing weights are a packaging mistake: the test fails


def card() -> dict:
    return json.loads((SHIPPED / "artengine_unclip.json").read_text())["card"]


def test_the_folder_is_diffusers_layout_in_at_most_15_mb():
    files = {path.relative_to(SHIPPED).as_posix(): path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file()}
    assert {"model_index.json", "prior/config.json", "prior/diffusion_pytorch_model.safetensors", "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json", "artengine_unclip.json",
            "README.md"} <= set(files)
    assert sum(files.values()) <= 15 * 1024 * 1024


def test_it_works_in_the_shipped_clip_and_vqgan_spaces():
    config = json.loads((SHIPPED / "artengine_unclip.json").read_text())
    assert config["clip"] == "clip:shapes" and config["vqgan"] == "vqgan:shapes"
    readme = (SHIPPED / "README.md").read_text()
    assert "artengine train unclip" in readme and config["training"]["command"] in readme


def test_list_models_shows_it_with_its_card_figures(cli):
    result = cli("list", "models")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("unclip:shapes"))
    for key, value in card()["figures"].items():
        assert f"{key}: {value}" in line


@pytest.mark.slow
def test_reranked_single_object_fidelity_holds_on_fresh_prompts(cli):
    """The card's single-object figure, within 0.1, on 20 other prompts and seeds."""
    claimed = float(card()["figures"]["single-object accuracy, -n 8 --keep 1 (200 prompts)"])
    result = cli("eval", "shapes", "-g", "unclip", "-n", "8", "--keep", "1", "--n-prompts", "20", "--seed", "123",
                 "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mean"] >= claimed - 0.1


@pytest.mark.slow
def test_the_quick_start_prompt_keeps_scenes_with_its_objects_in_order(cli, tmp_path):
    """README's `generate "a red circle to the left of a blue square" -g unclip -n 8 --keep 2`:
    the two kept images show the scene, not its mirror (the reranker tells them apart)."""
    from PIL import Image

    from artengine.plugins.shapes.captions import parse_caption
    from artengine.plugins.shapes.reader import grade, read_attributes

    prompt = "a red circle to the left of a blue square"
    result = cli("generate", prompt, "-g", "unclip", "-n", "8", "--keep", "2", "--seed", "0", "--device", "cpu",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    kept = sorted((tmp_path / "out").glob("*/*.png"))
    assert len(kept) == 2, kept
    for path in kept:
        marks = grade(parse_caption(prompt), read_attributes(Image.open(path), objects=2))
        assert all(marks.values()), (path.name, marks)
