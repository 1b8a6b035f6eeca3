"""CLIP training batches: captions that could describe one image never share a batch, and a
batch depends only on its indices and seed."""

from PIL import Image

from artengine.plugins.shapes import ShapesDataset
from artengine.plugins.clip.batches import BatchMaker


def shapes_dataset(**options):
    return ShapesDataset({option.name: option.default for option in ShapesDataset.options} | options, "cpu")


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
    shapes = shapes_dataset()
    maker = BatchMaker(shapes, Pairs(), batch_size=9, image_size=(32, 32), hard_negatives=2)
    for step in range(20):
        batch = maker.batch([(step + i) % len(Pairs()) for i in range(9)], seed=step)
        assert len(set(batch.captions)) == len(batch.captions)
        for i, caption in enumerate(batch.captions):
            assert not any(shapes.compatible(caption, other) for other in batch.captions[:i])
        assert batch.images.shape == (len(batch.captions), 3, 32, 32)
        assert [len(n) for n in batch.negatives] == [0 if "dog" in c else 2 for c in batch.captions]


def test_a_batch_depends_only_on_its_indices_and_seed():
    shapes = shapes_dataset()
    first, again = BatchMaker(shapes, Pairs(), 4, (32, 32), 2), BatchMaker(shapes, Pairs(), 4, (32, 32), 2)
    assert again.batch([3, 1, 4, 0], 7).captions == first.batch([3, 1, 4, 0], 7).captions
    assert again.batch([3, 1, 4, 0], 7).negatives == first.batch([3, 1, 4, 0], 7).negatives


def test_shapes_batches_have_their_negatives_from_the_dataset():
    shapes = shapes_dataset(objects="1")
    pairs = shapes.pairs(64, 3)
    batch = BatchMaker(shapes, pairs, 16, (64, 64), 3).batch(list(range(16)), 11)
    assert len(batch.captions) == 16 and all(len(n) == 3 for n in batch.negatives)
    assert all(not shapes.compatible(n, c) for c, negatives in zip(batch.captions, batch.negatives) for n in negatives)
