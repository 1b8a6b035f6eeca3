"""The shapes dataset's answers to contrastive training: hard negatives and compatible captions."""

import random

import pytest
from hypothesis import given, strategies as st

from artengine.datasets import load_dataset
from artengine.plugins.shapes import ShapesDataset
from artengine.plugins.shapes.captions import caption
from artengine.plugins.shapes.scene import Scene, SceneObject
from artengine.plugins.shapes.vocabulary import BACKGROUNDS, COLOURS, POSITIONS, RELATIONS, SHAPES, SIZES

one_object = st.builds(
    lambda colour, shape, size, position, background: Scene((SceneObject(colour, shape, size, position),), background),
    st.sampled_from(list(COLOURS)), st.sampled_from(SHAPES), st.sampled_from(list(SIZES)),
    st.sampled_from(list(POSITIONS)), st.sampled_from(list(BACKGROUNDS)))
two_objects = st.builds(
    lambda colours, shapes, relation, background: Scene(
        (SceneObject(colours[0], shapes[0]), SceneObject(colours[1], shapes[1])), background, relation),
    st.lists(st.sampled_from(list(COLOURS)), min_size=2, max_size=2, unique=True),
    st.lists(st.sampled_from(SHAPES), min_size=2, max_size=2), st.sampled_from(list(RELATIONS)),
    st.sampled_from(list(BACKGROUNDS)))
scenes = st.one_of(one_object, two_objects)
left_out = st.sets(st.sampled_from(["size", "position", "background"]))


def shapes_dataset(**options):
    return ShapesDataset({option.name: option.default for option in ShapesDataset.options} | options, "cpu")


@pytest.fixture(scope="module")
def shapes():
    return shapes_dataset()


def full_and_partial(scene, drop):
    optional = {"background"} if len(scene.objects) == 2 else {"size", "position", "background"}
    return caption(scene), caption(Scene(scene.objects, scene.background, scene.relation, frozenset(drop & optional)))


@given(scenes, left_out, st.integers(0, 2**32))
def test_hard_negatives_are_false_for_every_image_the_caption_fits(shapes, scene, drop, seed):
    full, partial = full_and_partial(scene, drop)
    negatives = shapes.hard_negatives(partial, 6, random.Random(seed))
    assert len(negatives) == len(set(negatives)) == 6
    for negative in negatives:
        assert not shapes.compatible(negative, full)  # false for the image
        assert not shapes.compatible(negative, partial)


@given(scenes, left_out, st.integers(0, 2**32))
def test_hard_negatives_depend_only_on_the_caption_and_the_draw(shapes, scene, drop, seed):
    _, partial = full_and_partial(scene, drop)
    assert shapes.hard_negatives(partial, 4, random.Random(seed)) == shapes.hard_negatives(partial, 4, random.Random(seed))


@given(scenes, left_out)
def test_a_caption_leaving_phrases_out_fits_the_full_one(shapes, scene, drop):
    full, partial = full_and_partial(scene, drop)
    assert shapes.compatible(partial, full) and shapes.compatible(full, partial)


def test_one_changed_attribute_makes_captions_incompatible(shapes):
    assert not shapes.compatible("a red circle on the left", "a red circle on the right")
    assert not shapes.compatible("a small red circle", "a small red square")
    assert shapes.compatible("a small red circle", "a red circle at the top on a black background")


def test_the_same_two_objects_described_the_other_way_round_fit(shapes):
    assert shapes.compatible("a red circle to the left of a blue square",
                             "a blue square to the right of a red circle on a gray background")
    assert not shapes.compatible("a red circle to the left of a blue square", "a blue square to the left of a red circle")


def test_text_outside_the_grammar_has_no_negatives_and_fits_only_itself(shapes):
    assert shapes.hard_negatives("a portrait of a cat", 4, random.Random(0)) == []
    assert shapes.compatible("a portrait of a cat", "a portrait of a cat")
    assert not shapes.compatible("a portrait of a cat", "a red circle")


def test_evaluation_pairs_are_the_same_scenes_with_full_captions(shapes):
    plain, full = shapes.pairs(20, 5), shapes.evaluation_pairs(20, 5)
    assert all(plain.scene(i).attributes() == full.scene(i).attributes() for i in range(20))
    assert all(full[i][1] == [caption(Scene(full.scene(i).objects, full.scene(i).background, full.scene(i).relation))]
               for i in range(20))


def test_a_folder_of_pairs_offers_no_negatives_and_only_equal_captions_clash(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a red circle\n")
    folder = load_dataset(str(tmp_path))
    assert folder.hard_negatives("a red circle", 4, random.Random(0)) == []
    assert folder.compatible("a red circle", "a red circle") and not folder.compatible("a red circle", "a red circle on the left")
