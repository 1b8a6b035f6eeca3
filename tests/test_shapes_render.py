"""The shapes world's renderer: exact colours, exact geometry, deterministic scenes."""

import random

import numpy as np
import pytest

from artengine.plugins.shapes.vocabulary import BACKGROUNDS, COLOURS, PAIR_DISTANCE, POSITIONS, RELATIONS, SIZES
from artengine.plugins.shapes.world import Scene, SceneObject, render, render_array, sample_scene


def one(shape, side=26, centre=(32, 32), colour="red", background="black"):
    return Scene((SceneObject(colour, shape, "large", "in the center", side, centre),), background=background)


def painted(scene):
    """Booleans, rows are y: where the image differs from its background."""
    pixels = render_array(scene)
    return (pixels != np.array(BACKGROUNDS[scene.background], dtype=np.uint8)).any(axis=-1)


def bounds(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), xs.max(), ys.min(), ys.max()


def centres():
    """x and y of every pixel centre, relative to the canvas centre (32, 32)."""
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    return xs - 32, ys - 32


def follows(mask, inside, on_edge):
    """Pixels whose centres lie inside are painted; outside, not; on the edge, either way."""
    return bool(np.all(mask[inside & ~on_edge]) and not np.any(mask[~inside & ~on_edge]))


def test_small_red_square_in_the_center_covers_exactly_its_box():
    image = render(one("square", side=14, colour="red", background="black"))
    assert image.mode == "RGB" and image.size == (64, 64)
    pixels = np.asarray(image)
    expected = np.zeros((64, 64, 3), dtype=np.uint8)
    expected[25:39, 25:39] = (220, 40, 40)  # 14 x 14 pixels around the canvas centre (32, 32)
    assert np.array_equal(pixels, expected)


def test_odd_sides_still_cover_side_by_side_pixels():
    for side in (13, 15, 25, 27):
        assert painted(one("square", side=side)).sum() == side * side


@pytest.mark.parametrize("background", list(BACKGROUNDS))
@pytest.mark.parametrize("colour", list(COLOURS))
def test_colours_and_backgrounds_are_exact(colour, background):
    pixels = render_array(one("circle", colour=colour, background=background)).reshape(-1, 3)
    found = {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)}
    assert found == {COLOURS[colour], BACKGROUNDS[background]}


def test_circle_is_the_disc_inscribed_in_the_box():
    mask = painted(one("circle", side=26))
    x, y = centres()
    assert follows(mask, x * x + y * y <= 169, x * x + y * y == 169)
    assert bounds(mask) == (19, 44, 19, 44)  # the box [19, 45) on both axes
    assert np.array_equal(mask, mask[:, ::-1]) and np.array_equal(mask, mask[::-1, :])
    assert np.array_equal(mask, mask.T)
    assert abs(mask.sum() - np.pi * 13 ** 2) < 0.02 * np.pi * 13 ** 2
    assert not mask[19, 19] and not mask[44, 44]  # the box's corners stay empty


def test_triangle_points_up_with_its_base_on_the_bottom_edge():
    mask = painted(one("triangle", side=26))
    x, y = centres()
    half_width = (y + 13) / 2  # 0 at the apex (y = -13), 13 at the base (y = 13)
    inside = (np.abs(x) <= half_width) & (np.abs(y) <= 13)
    assert follows(mask, inside, (np.abs(x) == half_width) | (np.abs(y) == 13))
    left, right, top, bottom = bounds(mask)
    # the apex is a point on the box's top edge (y = 19), so the first row holding a pixel
    # centre inside the triangle is the next one, two pixels wide around x = 32
    assert (left, right, top, bottom) == (19, 44, 20, 44)
    assert mask[20].nonzero()[0].tolist() == [31, 32]
    widths = mask.sum(axis=1)[20:45]
    assert widths[-1] == 26  # the base spans the box's bottom edge
    assert all(a <= b for a, b in zip(widths, widths[1:]))  # widens downwards
    assert abs(mask.sum() - 26 * 26 / 2) < 0.05 * 26 * 26 / 2


def test_diamond_has_its_corners_at_the_middles_of_the_edges():
    mask = painted(one("diamond", side=26))
    x, y = centres()
    distance = np.abs(x) + np.abs(y)
    assert follows(mask, distance <= 13, distance == 13)
    # the corners' pixel centres sit on edges: in on the left and top, out on the right
    assert bounds(mask) == (19, 43, 19, 44)
    assert mask[19, 31] and mask[44, 31] and mask[31, 19] and mask[31, 43]
    widths = mask.sum(axis=1)
    assert widths[31] == widths[32] == widths.max() == 25  # widest across the middle
    assert mask.sum() == 26 * 26 / 2  # half the box: edge pixels count on two of the four edges


def test_square_fills_its_box_for_every_centre():
    mask = painted(one("square", side=27, centre=(20, 40)))
    assert mask.sum() == 27 * 27
    left, right, top, bottom = bounds(mask)
    assert (right - left + 1, bottom - top + 1) == (27, 27)
    assert abs((left + right + 1) / 2 - 20) <= 0.5 and abs((top + bottom + 1) / 2 - 40) <= 0.5


def test_one_object_scenes_keep_sizes_and_positions_within_their_jitter():
    for seed in range(300):
        scene = sample_scene(random.Random(seed), objects=1)
        (thing,) = scene.objects
        assert abs(thing.side - SIZES[thing.size]) <= 2
        x, y = POSITIONS[thing.position]
        assert abs(thing.centre[0] - x) <= 2 and abs(thing.centre[1] - y) <= 2
        assert all(isinstance(v, int) for v in (thing.side, *thing.centre))


def test_two_object_scenes_place_a_centred_pair_along_the_relation():
    for seed in range(300):
        scene = sample_scene(random.Random(seed), objects=2)
        first, second = scene.objects
        assert first.colour != second.colour
        assert all(abs(o.side - 16) <= 2 for o in scene.objects)
        dx, dy = RELATIONS[scene.relation]
        along = (first.centre[0] - second.centre[0]) * dx + (first.centre[1] - second.centre[1]) * dy
        across = (first.centre[0] - second.centre[0]) * dy + (first.centre[1] - second.centre[1]) * dx
        assert abs(along - PAIR_DISTANCE) <= 4 and abs(across) <= 4  # each centre jitters by 2
        middle = [(a + b) / 2 for a, b in zip(first.centre, second.centre)]
        assert abs(middle[0] - 32) <= 2 and abs(middle[1] - 32) <= 2
        found = {tuple(int(v) for v in p) for p in np.unique(render_array(scene).reshape(-1, 3), axis=0)}
        assert len(found) == 3  # the objects never overlap or cover each other


def test_a_seed_gives_the_same_scene_and_pixels_and_leaves_the_global_rng_alone():
    state = random.getstate()
    first = [sample_scene(random.Random(7), objects) for objects in (1, 2)]
    random.seed(123)  # the global generator has no say
    second = [sample_scene(random.Random(7), objects) for objects in (1, 2)]
    random.setstate(state)
    assert first == second
    assert [render(s).tobytes() for s in first] == [render(s).tobytes() for s in second]
    assert sample_scene(7) == first[0]  # an int seed works too
    scenes = {sample_scene(random.Random(seed)) for seed in range(20)}
    assert len(scenes) > 15


def test_every_word_of_the_world_is_drawn():
    scenes = [sample_scene(random.Random(seed), objects=1 + seed % 2) for seed in range(800)]
    assert {s.background for s in scenes} == set(BACKGROUNDS)
    assert {o.colour for s in scenes for o in s.objects} == set(COLOURS)
    assert {o.shape for s in scenes for o in s.objects} == {"circle", "square", "triangle", "diamond"}
    assert {s.objects[0].size for s in scenes if len(s.objects) == 1} == set(SIZES)
    assert {s.objects[0].position for s in scenes if len(s.objects) == 1} == set(POSITIONS)
    assert {s.relation for s in scenes if len(s.objects) == 2} == set(RELATIONS)


def test_an_incomplete_scene_is_refused():
    with pytest.raises(ValueError, match="realise"):
        render(Scene((SceneObject("red", "circle"),)))
