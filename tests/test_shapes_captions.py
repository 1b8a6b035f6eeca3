"""Captions of the shapes world: the grammar, omissions, and parsing users' prompts."""

import random
from dataclasses import replace

import pytest

from artengine import UsageError
from artengine.plugins.shapes.world import Scene, SceneObject, caption, parse_caption, realise, sample_scene


def test_one_object_caption_names_every_attribute_in_order():
    scene = Scene((SceneObject("red", "circle", "large", "on the left", 26, (18, 32)),), background="black")
    assert caption(scene) == "a large red circle on the left on a black background"


def test_two_object_caption_names_the_relation_from_the_first_object():
    scene = realise(Scene((SceneObject("red", "circle"), SceneObject("blue", "square")),
                          background="white", relation="to the left of"), random.Random(0))
    assert caption(scene) == "a red circle to the left of a blue square on a white background"
    assert scene.objects[0].centre[0] < scene.objects[1].centre[0]


def test_omitted_phrases_are_left_out_but_colour_and_shape_never():
    scene = sample_scene(random.Random(3), objects=1, omit=False)
    bare = replace(scene, omitted=frozenset({"size", "position", "background"}))
    (thing,) = scene.objects
    assert caption(bare) == f"a {thing.colour} {thing.shape}"


def test_training_captions_leave_out_each_optional_phrase_sometimes():
    ones = [sample_scene(random.Random(seed), objects=1) for seed in range(2000)]
    for phrase in ("size", "position", "background"):
        share = sum(phrase in s.omitted for s in ones) / len(ones)
        assert 0.25 < share < 0.35
    twos = [sample_scene(random.Random(seed), objects=2) for seed in range(500)]
    assert {phrase for s in twos for phrase in s.omitted} == {"background"}
    full = [sample_scene(random.Random(seed), objects=1 + seed % 2, omit=False) for seed in range(200)]
    assert all(not s.omitted and "background" in caption(s) for s in full)


@pytest.mark.parametrize("objects", [1, 2])
def test_parsing_a_caption_gives_back_what_it_names(objects):
    for seed in range(500):
        scene = sample_scene(random.Random(seed), objects=objects)
        text = caption(scene)
        parsed = parse_caption(text)
        named = {key: value for key, value in parsed.attributes().items() if value is not None}
        assert named == scene.named(), text
        assert caption(parsed) == text


def test_a_parsed_prompt_is_partial_until_realised():
    parsed = parse_caption("a green triangle")
    assert parsed.background is None and parsed.objects[0].size is None and not parsed.complete
    scene = realise(parsed, random.Random(1))
    assert scene.complete and scene.objects[0].colour == "green" and scene.objects[0].shape == "triangle"
    assert realise(scene, random.Random(2)) == scene  # nothing left to draw


def test_case_spacing_and_an_for_a_do_not_matter():
    pair = parse_caption("An orange circle above a red square")
    assert [o.colour for o in pair.objects] == ["orange", "red"] and pair.relation == "above"
    assert parse_caption("  A Small  PINK diamond at the TOP ").attributes() == {
        "background": None, "colour": "pink", "shape": "diamond", "size": "small", "position": "at the top"}


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("", "empty"),
        ("red circle", "expected 'a'"),
        ("a red hexagon", "expected a shape"),
        ("a purpel circle", "did you mean 'purple'"),
        ("a large", "got the end of the prompt"),
        ("a red circle in the centre", "expected a position"),
        ("a red circle on a black", "expected 'background'"),
        ("a red circle on a blue background", "expected a background colour"),
        ("a red circle to the left of a red square", "different colours"),
        ("a large red circle above a blue square", "names no size"),
        ("a red circle above a blue square on the left", "expected the end"),
        ("a red circle on the left on a black background please", "please"),
    ],
)
def test_text_outside_the_grammar_is_refused_with_the_reason(text, complaint):
    with pytest.raises(UsageError, match=complaint) as error:
        parse_caption(text)
    assert "COLOUR SHAPE" in str(error.value) or complaint == "empty"
