"""The shipped `clip:shapes` model: its card's claims, reproduced at a smaller scale."""

import json
import re
from pathlib import Path

import pytest

import artengine
from artengine.plugins.clip.evaluation import EVAL_SEED, evaluate

SHIPPED = Path(__file__).parents[1] / "plugins" / "clip" / "weights" / "shapes"


@pytest.fixture
def shapes_world(builtin_plugins):
    """The installed plugins: the shapes dataset and this clip plugin, as users get them."""
    assert "shapes" in artengine.discovery.get_registry().names("dataset"), "the shapes plugin is not installed"
    return builtin_plugins


def test_the_shipped_weights_are_small_and_safetensors():
    assert (SHIPPED / "open_clip_model.safetensors").stat().st_size <= 10 * 1024 * 1024
    assert json.loads((SHIPPED / "open_clip_config.json").read_text())["model_cfg"]["vision_cfg"]["image_size"] == 64


def test_the_card_states_how_it_was_made_and_what_it_scores():
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    for words in ("artengine train clip", "Hardware", "Wall time", "Steps", "text_to_image_top1", "image_to_text_top1"):
        assert words in card
    figures = dict(re.findall(r"^(\w+_top1): ([0-9.]+)$", card, re.MULTILINE))
    assert float(figures["text_to_image_top1"]) >= 0.90 and float(figures["image_to_text_top1"]) >= 0.90


def test_list_models_shows_the_shipped_model_with_its_figures(cli, builtin_plugins):
    result = cli("list", "models")
    assert "clip:shapes" in result.output and "text_to_image_top1" in result.output


def test_retrieval_among_64_fresh_captions_is_at_least_0_9(shapes_world):
    # one trial on seeds the card's evaluation did not use
    result = evaluate(artengine.load_model("clip:shapes"), "shapes", n=64, trials=1, seed=EVAL_SEED + 777)
    assert result["text_to_image_top1"] >= 0.90, result
    assert result["image_to_text_top1"] >= 0.90, result


def test_the_clip_scorer_prefers_the_image_that_matches_the_prompt(shapes_world):
    from artengine.datasets import open_dataset

    pairs = open_dataset("shapes", count=8, seed=4242, options={"omit": False})
    images = [image for image, _ in pairs]
    scorer = artengine.discovery.get_registry().scorer("clip")({"models": ["clip:shapes"], "batch_size": 32}, "cpu")
    best = [max(range(8), key=scorer.score(images, artengine.parse_prompt(captions[0])).__getitem__)
            for _, captions in pairs]
    assert sum(found == index for index, found in enumerate(best)) >= 7


def test_the_clip_scorer_tells_a_two_object_scene_from_its_mirror(shapes_world):
    """A bag-of-words CLIP scores "a red circle to the left of a blue square" and "a blue square
    to the left of a red circle" alike; reranking by it would keep mirrored scenes."""
    from dataclasses import replace

    from artengine.plugins.shapes.captions import caption
    from artengine.plugins.shapes.render import render
    from artengine.plugins.shapes.scene import mirror, sample_scene

    scorer = artengine.discovery.get_registry().scorer("clip")({"models": ["clip:shapes"], "batch_size": 32}, "cpu")
    captions_right = images_right = 0
    for seed in range(3_000_000, 3_000_032):  # fresh scenes
        scene = sample_scene(seed, objects=2, omit=False)
        prompt = artengine.parse_prompt(caption(scene))
        swapped = artengine.parse_prompt(caption(replace(scene, objects=scene.objects[::-1])))
        image, mirrored = render(scene), render(mirror(scene, seed))
        captions_right += scorer.score([image], prompt)[0] > scorer.score([image], swapped)[0]
        own, mirrors = scorer.score([image, mirrored], prompt)
        images_right += own > mirrors
    assert captions_right >= 29 and images_right >= 28, (captions_right, images_right)
