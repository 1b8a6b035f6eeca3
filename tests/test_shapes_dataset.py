"""The `shapes` dataset: a lazily rendered, seeded sequence of (image, [caption]) pairs."""

import numpy as np
import pytest

import artengine.plugins.shapes
from artengine import UsageError
from artengine.datasets import open_dataset
from artengine.plugins.shapes.world import parse_caption


@pytest.fixture
def shapes(host):
    host.add(artengine.plugins.shapes, name="shapes")


def same(first, second):
    return np.array_equal(np.asarray(first[0]), np.asarray(second[0])) and first[1] == second[1]


def test_the_plugin_is_declared_as_an_artengine_entry_point(host):
    from importlib import metadata

    (entry_point,) = [e for e in metadata.entry_points(group="artengine") if e.name == "shapes"]
    assert entry_point.load() is artengine.plugins.shapes
    host.add(entry_point.load(), name="shapes")
    assert host.registry.owners["dataset", "shapes"] == "shapes"


def test_pairs_are_images_with_one_parseable_caption(shapes):
    pairs = open_dataset("shapes", count=20, seed=1)
    assert len(pairs) == 20
    for image, captions in pairs:
        assert image.mode == "RGB" and image.size == (64, 64)
        assert len(captions) == 1
        parse_caption(captions[0])


def test_pair_i_depends_only_on_the_seed_and_i(shapes):
    short, long = open_dataset("shapes", count=5, seed=9), open_dataset("shapes", count=500, seed=9)
    assert all(same(short[i], long[i]) for i in range(5))
    assert same(long[3], open_dataset("shapes", count=500, seed=9)[3])
    other = open_dataset("shapes", count=5, seed=10)
    assert sum(same(short[i], other[i]) for i in range(5)) < 5
    assert len({pair[1][0] for pair in long}) > 200  # varied captions


def test_it_behaves_as_a_sequence(shapes):
    pairs = open_dataset("shapes", count=4, seed=0)
    assert same(pairs[-1], pairs[3])
    assert [p[1] for p in pairs[1:3]] == [pairs[1][1], pairs[2][1]]
    assert same(pairs[np.int64(2)], pairs[2])  # numpy (and torch) integers index too
    with pytest.raises(IndexError):
        pairs[4]
    with pytest.raises(IndexError):
        pairs[-5]
    assert len(list(pairs)) == 4


def test_objects_option_picks_one_two_or_both(shapes):
    def relations(objects):
        captions = [caption for _, (caption,) in open_dataset("shapes", 60, 2, {"objects": objects})]
        return {parse_caption(c).relation is not None for c in captions}

    assert relations("1") == {False}
    assert relations("2") == {True}
    assert relations("mixed") == {False, True}


def test_without_omit_every_caption_is_full(shapes):
    pairs = open_dataset("shapes", 50, 4, {"omit": False})
    for _, (caption,) in pairs:
        assert None not in parse_caption(caption).attributes().values()


def test_a_bad_option_is_a_usage_error(shapes):
    with pytest.raises(UsageError, match="objects"):
        open_dataset("shapes", 5, 0, {"objects": "3"})


def test_the_plugin_imports_without_numpy_pillow_or_torch():
    import subprocess
    import sys

    code = ("import sys, artengine.plugins.shapes, artengine.plugins.shapes.data_command, artengine.plugins.shapes.eval_command; "
            "print(sorted(m for m in ('numpy', 'PIL', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
