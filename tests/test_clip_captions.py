"""Hard negatives and batch making for CLIP training on the shapes-world grammar."""

import random

from hypothesis import given, strategies as st
from PIL import Image

from artengine.plugins.clip import shapes_captions as sc
from artengine.plugins.clip.batches import BatchMaker, compatible

one_object = st.builds(
    sc.Caption, colour=st.sampled_from(sc.COLOURS), shape=st.sampled_from(sc.SHAPES),
    size=st.sampled_from(sc.SIZES), position=st.sampled_from(sc.POSITIONS), background=st.sampled_from(sc.BACKGROUNDS))
two_objects = st.tuples(st.lists(st.sampled_from(sc.COLOURS), min_size=2, max_size=2, unique=True),
                        st.sampled_from(sc.SHAPES), st.sampled_from(sc.SHAPES), st.sampled_from(sc.RELATIONS),
                        st.sampled_from(sc.BACKGROUNDS)).map(
    lambda t: sc.Caption(colour=t[0][0], shape=t[1], relation=t[3], colour2=t[0][1], shape2=t[2], background=t[4]))
full_captions = st.one_of(one_object, two_objects)


def leave_out(caption, drop):
    optional = ("background",) if caption.two_objects else ("size", "position", "background")
    return sc.Caption(**{k: (None if k in optional and k in drop else v) for k, v in vars(caption).items()})


@given(full_captions, st.sets(st.sampled_from(["size", "position", "background"])))
def test_captions_parse_back_to_what_they_say(caption, drop):
    partial = leave_out(caption, drop)
    assert sc.parse(partial.text()) == partial
    assert sc.parse(caption.text()).full and (sc.parse(partial.text()).full == (partial == caption))


@given(full_captions, st.sets(st.sampled_from(["size", "position", "background"])), st.integers(0, 2**32))
def test_hard_negatives_are_false_for_every_image_the_caption_fits(caption, drop, seed):
    partial = leave_out(caption, drop)
    negatives = sc.hard_negatives(partial, 6, random.Random(seed))
    assert len(negatives) == len(set(negatives)) == 6
    for negative in negatives:
        assert not compatible(sc.parse(negative), caption)  # false for the image
        assert not compatible(sc.parse(negative), partial)


@given(full_captions, st.sets(st.sampled_from(["size", "position", "background"])))
def test_a_caption_leaving_phrases_out_fits_the_full_one(caption, drop):
    assert compatible(leave_out(caption, drop), caption)


def test_the_same_two_objects_described_the_other_way_round_fit():
    assert compatible(sc.parse("a red circle to the left of a blue square"),
                      sc.parse("a blue square to the right of a red circle on a gray background"))
    assert not compatible(sc.parse("a red circle to the left of a blue square"),
                          sc.parse("a blue square to the left of a red circle"))


def test_text_outside_the_grammar_is_not_parsed():
    assert sc.parse("a portrait of a cat") is None
    assert sc.parse("a huge red circle") is None


class Pairs:
    """Images paired with single captions drawn from a few templates (many that overlap)."""

    captions = ["a red circle", "a large red circle on the left", "a small red circle", "a blue square above a red circle",
                "a red circle below a blue square", "a green triangle on a white background", "a photo of a dog",
                "a photo of a dog", "a small green triangle at the top on a black background"]

    def __len__(self):
        return len(self.captions)

    def __getitem__(self, index):
        return Image.new("RGB", (40, 40), (index * 20, 0, 0)), [self.captions[index]]


def test_a_batch_never_holds_two_captions_that_could_describe_one_image():
    maker = BatchMaker(Pairs(), batch_size=9, image_size=(32, 32), hard_negatives=2)
    for step in range(20):
        batch = maker.batch([(step + i) % len(Pairs()) for i in range(9)], seed=step)
        parsed = [sc.parse(c) for c in batch.captions]
        assert len(set(batch.captions)) == len(batch.captions)
        for i in range(len(parsed)):
            for j in range(i):
                assert not (parsed[i] and parsed[j] and compatible(parsed[i], parsed[j]))
        assert batch.images.shape == (len(batch.captions), 3, 32, 32)
        assert all(len(n) == (2 if p else 0) for n, p in zip(batch.negatives, parsed))


def test_a_batch_depends_only_on_its_indices_and_seed():
    first, again = BatchMaker(Pairs(), 4, (32, 32), 2), BatchMaker(Pairs(), 4, (32, 32), 2)
    assert again.batch([3, 1, 4, 0], 7).captions == first.batch([3, 1, 4, 0], 7).captions
    assert again.batch([3, 1, 4, 0], 7).negatives == first.batch([3, 1, 4, 0], 7).negatives
