"""`artengine eval clip`: text→image and image→text top-1 retrieval."""

import json

import pytest
import torch
from PIL import Image

import artengine
import artengine.plugins.clip
from artengine.plugins.clip.evaluation import retrieval_accuracy
from tests.clip_helpers import tiny_model


@pytest.fixture(autouse=True)
def clip_plugin(host):
    host.add(artengine.plugins.clip, name="clip")


class FakeModel:
    """Embeds image i and caption j as one-hot vectors chosen by the test."""

    spec = "clip:fake"

    def __init__(self, image_slots, text_slots):
        self.image_slots, self.text_slots = image_slots, text_slots

    def encode_image(self, images):
        return torch.nn.functional.one_hot(torch.tensor(self.image_slots[: len(images)]), 8).float()

    def encode_text(self, texts):
        return torch.nn.functional.one_hot(torch.tensor(self.text_slots[: len(texts)]), 8).float()


def blank(count):
    return [Image.new("RGB", (8, 8)) for _ in range(count)]


def test_retrieval_counts_the_best_match_in_both_directions():
    # image 2 looks like caption 0; everything else matches its own
    model = FakeModel(image_slots=[0, 1, 0, 3], text_slots=[0, 1, 2, 3])
    result = retrieval_accuracy(model, blank(4), ["a", "b", "c", "d"])
    assert result == {"text_to_image_top1": 0.75, "image_to_text_top1": 0.75}


def test_a_match_with_the_very_same_caption_counts_as_right():
    model = FakeModel(image_slots=[0, 0, 1], text_slots=[0, 0, 1])
    result = retrieval_accuracy(model, blank(3), ["twin", "twin", "other"])
    assert result == {"text_to_image_top1": 1, "image_to_text_top1": 1}


class Captioned(artengine.Dataset):
    name = "captioned"
    description = "Pairs whose captions are full only in its evaluation pairs (like the shapes world's)."
    asked = []

    def pairs(self, count, seed, full=False):
        Captioned.asked.append((count, seed, full))
        words = ["red", "green", "blue", "yellow"]
        return [(Image.new("RGB", (32, 32), (60 * i, 0, 0)),
                 [f"a {words[i % 4]} circle" + (f" number {i}" if full else "")]) for i in range(count)]

    def evaluation_pairs(self, count, seed):
        return self.pairs(count, seed, full=True)


class CaptionedPlugin:
    @artengine.hookimpl
    def register_datasets(self, register):
        register(Captioned)


def test_eval_asks_for_full_captions_on_fresh_seeds_and_prints_json(cli, host, tmp_path):
    host.add(CaptionedPlugin(), name="captioned")
    spec = tiny_model(tmp_path / "model", seed=0)
    Captioned.asked.clear()

    result = cli("eval", "clip", spec, "--data", "captioned", "--n", 6, "--trials", 2, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert Captioned.asked == [(6, 1_000_000, True), (6, 1_000_001, True)]
    assert report["n"] == 6 and report["trials"] == 2 and len(report["per_trial"]) == 2
    for key in ("text_to_image_top1", "image_to_text_top1"):
        assert 0 <= report[key] <= 1


def test_eval_prints_one_line_without_json(cli, host, tmp_path):
    host.add(CaptionedPlugin(), name="captioned")
    spec = tiny_model(tmp_path / "model", seed=0)
    result = cli("eval", "clip", spec, "--data", "captioned", "--n", 4)
    assert result.exit_code == 0, result.output
    assert "text→image top-1" in result.output and "image→text top-1" in result.output
