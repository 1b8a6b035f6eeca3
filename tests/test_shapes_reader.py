"""The attribute reader: exact on clean renders, never crashing on anything else."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

import artengine.plugins.shapes
from artengine.plugins.shapes.reader import grade, read_attributes
from artengine.plugins.shapes.scene import ONE_OBJECT_KEYS, TWO_OBJECT_KEYS
from artengine.plugins.shapes.vocabulary import BACKGROUNDS, COLOURS, POSITIONS, RELATIONS, SHAPES, SIZES
from artengine.plugins.shapes.world import Scene, SceneObject, parse_caption, realise, render, sample_scene

WORDS = {"background": set(BACKGROUNDS), "colour": set(COLOURS), "shape": set(SHAPES), "size": set(SIZES),
         "position": set(POSITIONS), "relation": set(RELATIONS)}


def vocabulary_of(key):
    return WORDS[key.split("_")[-1]]


@pytest.mark.parametrize("objects", [1, 2])
def test_reads_500_clean_renders_right(objects):
    scenes = [sample_scene(random.Random(1000 * objects + seed), objects) for seed in range(500)]
    marks = [grade(scene, read_attributes(render(scene), objects)) for scene in scenes]
    for key in ONE_OBJECT_KEYS if objects == 1 else TWO_OBJECT_KEYS:
        assert sum(m[key] for m in marks) / len(marks) >= 0.99, key


def test_counts_the_objects_when_not_told():
    for seed in range(100):
        scene = sample_scene(random.Random(seed), objects=1 + seed % 2)
        reading = read_attributes(render(scene))
        assert reading["objects"] == len(scene.objects)
        assert all(grade(scene, reading).values())


def test_reads_an_upscaled_render_the_same():
    scene = sample_scene(random.Random(4), objects=2)
    big = render(scene).resize((256, 256), Image.NEAREST)
    assert read_attributes(big, 2) == read_attributes(render(scene), 2)


def test_either_description_of_a_pair_is_right():
    scene = realise(parse_caption("a red circle to the left of a blue square on a black background"), 0)
    same_picture = Scene(scene.objects[::-1], "black", "to the right of")
    assert all(grade(same_picture, read_attributes(render(scene), 2)).values())


def test_a_pair_drawn_the_wrong_way_round_gets_only_the_relation_wrong():
    asked = realise(parse_caption("a red circle above a blue square on a gray background"), 0)
    drawn = realise(parse_caption("a red circle below a blue square on a gray background"), 0)
    marks = grade(asked, read_attributes(render(drawn), 2))
    assert [key for key, right in marks.items() if not right] == ["relation"]


def test_a_wrong_picture_reads_as_what_it_shows():
    asked = realise(parse_caption("a small red circle on the left on a black background"), 0)
    drawn = realise(parse_caption("a large red square at the bottom on a black background"), 0)
    marks = grade(asked, read_attributes(render(drawn), 1))
    assert marks == {"background": True, "colour": True, "shape": False, "size": False, "position": False}


def test_an_empty_canvas_or_a_filled_one_has_no_object():
    for image in (Image.new("RGB", (64, 64), (255, 255, 255)), Image.new("RGB", (64, 64), (220, 40, 40))):
        reading = read_attributes(image, 1)
        assert reading["colour"] is reading["shape"] is reading["size"] is reading["position"] is None
    assert read_attributes(Image.new("RGB", (64, 64), (220, 40, 40)), 1)["background"] is None
    assert read_attributes(Image.new("RGB", (64, 64), (255, 255, 255)), 2)["first_colour"] is None


def test_noise_reads_mostly_wrong():
    rng = np.random.default_rng(0)
    scenes = [sample_scene(random.Random(seed), 1, omit=False) for seed in range(50)]
    marks = [grade(scene, read_attributes(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), 1))
             for scene in scenes]
    assert sum(sum(m.values()) for m in marks) / (5 * len(marks)) < 0.3


@settings(max_examples=60, deadline=None)
@given(pixels=arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))),
       objects=st.sampled_from([None, 1, 2]), scale=st.integers(1, 12))
def test_never_crashes_and_only_says_words_of_the_world(pixels, objects, scale):
    image = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    reading = read_attributes(image, objects)
    assert reading["objects"] in (1, 2)
    keys = ONE_OBJECT_KEYS if reading["objects"] == 1 else TWO_OBJECT_KEYS
    assert set(reading) == {"objects", *keys}
    for key in keys:
        assert reading[key] is None or reading[key] in vocabulary_of(key)


def test_other_image_modes_are_read_too():
    scene = sample_scene(random.Random(8), objects=1)
    assert read_attributes(render(scene).convert("RGBA"), 1) == read_attributes(render(scene), 1)
    read_attributes(render(scene).convert("L"), 1)


def test_the_reader_is_no_scorer_and_no_loss(host):
    host.add(artengine.plugins.shapes, name="shapes")
    registry = host.registry
    assert not [name for (kind, name), owner in registry.owners.items()
                if owner == "shapes" and kind in ("scorer", "loss", "generator")]


def test_partial_scenes_are_graded_on_what_they_name():
    scene = Scene((SceneObject("red", "circle"),))
    drawn = realise(scene, 3)
    assert grade(scene, read_attributes(render(drawn), 1)) == {"colour": True, "shape": True}


def test_a_mirrored_scene_reads_as_the_caption_with_its_objects_swapped():
    from dataclasses import replace

    from artengine.plugins.shapes.scene import mirror

    for seed in range(50):
        scene = sample_scene(seed, objects=2, omit=False)
        reading = read_attributes(render(mirror(scene, seed)), objects=2)
        assert all(grade(replace(scene, objects=scene.objects[::-1]), reading).values()), (scene, reading)
        assert not grade(scene, reading)["relation"]
