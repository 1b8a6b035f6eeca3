"""The `clip` scorer: weighted cosine similarity to the prompt's parts, averaged over models."""

import pytest
from PIL import Image

import artengine
import artengine.plugins.clip
from artengine.plugins.clip.model import images_to_tensor
from tests.clip_helpers import tiny_model



@pytest.fixture(autouse=True)
def clip_plugin(host):
    host.add(artengine.plugins.clip, name="clip")


@pytest.fixture
def specs(tmp_path):
    return [tiny_model(tmp_path / "a", 1), tiny_model(tmp_path / "b", 2)]


def images(count, size=(32, 32)):
    return [Image.new("RGB", size, (40 * i % 256, 90, 200 - 30 * i % 200)) for i in range(count)]


def scorer(models, batch_size=32):
    scorer_class = artengine.discovery.get_registry().scorer("clip")
    return scorer_class({"models": models, "batch_size": batch_size}, "cpu")


def cosines(spec, pictures, texts):
    model = artengine.load_model(spec)
    return model.encode_image(images_to_tensor(pictures)) @ model.encode_text(texts).T


def test_a_single_part_scores_its_cosine_similarity(specs):
    pictures = images(3)
    scores = scorer(specs[:1]).score(pictures, artengine.parse_prompt("a red circle"))
    assert scores == pytest.approx(cosines(specs[0], pictures, ["a red circle"])[:, 0].tolist(), abs=1e-5)


def test_parts_are_weighted_and_negative_parts_subtract(specs):
    pictures = images(2)
    scores = scorer(specs[:1]).score(pictures, artengine.parse_prompt("a red circle:3|a blue square:-1"))
    both = cosines(specs[0], pictures, ["a red circle", "a blue square"])
    assert scores == pytest.approx(((3 * both[:, 0] - both[:, 1]) / 4).tolist(), abs=1e-5)


def test_several_models_are_averaged(specs):
    pictures, prompt = images(2), artengine.parse_prompt("a green triangle")
    alone = [scorer([spec]).score(pictures, prompt) for spec in specs]
    together = scorer(specs).score(pictures, prompt)
    assert together == pytest.approx([(a + b) / 2 for a, b in zip(*alone)], abs=1e-5)


def test_batching_and_mixed_sizes_do_not_change_scores(specs):
    pictures = images(5) + images(2, size=(48, 40))
    prompt = artengine.parse_prompt("a pink diamond")
    assert scorer(specs[:1], batch_size=2).score(pictures, prompt) == pytest.approx(
        scorer(specs[:1], batch_size=32).score(pictures, prompt), abs=1e-5)


def test_text_embeddings_are_computed_once_per_model_and_text(specs, monkeypatch):
    model = artengine.load_model(specs[0])
    calls = []
    original = model.encode_text
    monkeypatch.setattr(model, "encode_text", lambda texts: calls.append(list(texts)) or original(texts))
    clip_scorer = scorer(specs[:1])
    for _ in range(3):
        clip_scorer.score(images(2), artengine.parse_prompt("a red circle|a blue square:0.5"))
    assert calls == [["a red circle", "a blue square"]]


def test_models_that_are_not_clip_specs_are_refused():
    with pytest.raises(artengine.UsageError, match="not clip: specs"):
        scorer(["vqgan:shapes"]).score(images(1), artengine.parse_prompt("a red circle"))
