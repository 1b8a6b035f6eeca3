"""The shipped `vqgan:shapes`: installed, listed with its card's figures, and as good as its card says."""

import json
from pathlib import Path

import pytest
import torch

import artengine
import artengine.plugins.vqgan

SHIPPED = Path(artengine.plugins.vqgan.__file__).parent / "weights" / "shapes"


@pytest.fixture(autouse=True)
def installed_plugins(builtin_plugins):
    """The installed built-ins: the images come from the shapes plugin, through the registry."""
    return builtin_plugins


def card_figures():
    return json.loads((SHIPPED / "config.json").read_text())["card"]["figures"]


def test_the_shipped_files_are_package_data_and_small():
    files = {path.name for path in SHIPPED.iterdir()}
    assert {"model.safetensors", "config.json", "MODEL_CARD.md"} <= files
    assert (SHIPPED / "model.safetensors").stat().st_size <= 8 * 1024 * 1024


def test_list_models_shows_the_shipped_model_with_its_card_figures(cli):
    result = cli("list", "models")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("vqgan:shapes:"))
    figures = card_figures()
    assert f"PSNR: {figures['PSNR']}" in line
    assert f"codebook: {figures['codebook']}" in line and "factor: 8" in line


def test_the_shipped_model_maps_64x64_images_to_8x8_codes_from_at_most_1024():
    model = artengine.load_model("vqgan:shapes")
    assert model.factor == 8 and model.n_embed <= 1024
    with torch.no_grad():
        assert model.encode(torch.rand(2, 3, 64, 64)).shape == (2, 8, 8)


def test_the_card_claims_at_least_30_db_on_1000_fresh_images():
    figures = card_figures()
    assert figures["PSNR"].endswith("dB") and float(figures["PSNR"].split()[0]) >= 30
    assert "1000 fresh" in figures["measured on"]


def test_the_shipped_model_reconstructs_100_fresh_shapes_images_at_30_db():
    """The card's claim, at a tenth of its scale, on images no training run saw."""
    from artengine.plugins.vqgan.evaluation import evaluate

    figures = evaluate("vqgan:shapes", "shapes", n=100, seed=7_000_001)
    assert figures["psnr_mean"] >= 30, figures
