"""Cutouts: batched, differentiable, each candidate's drawn from its own generator."""

import torch

from artengine.plugins.clip_guided.cutouts import Cutouts


def make(count=4, augment=(), cut_pow=1.0, seeds=(0,)):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return Cutouts(count, cut_pow, frozenset(augment), generators, generators)


def gradient_image(batch=1, size=32):
    ramp = torch.linspace(0, 1, size)
    image = torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size), torch.full((size, size), 0.5)])
    return image[None].repeat(batch, 1, 1, 1)


def test_shape_is_candidate_major_and_sized_for_clip():
    images = torch.rand(3, 3, 32, 32)
    out = make(count=5, seeds=(1, 2, 3))(images, 16)
    assert out.shape == (15, 3, 16, 16)


def test_without_augmentations_a_full_size_cutout_is_the_image_itself():
    image = gradient_image()
    out = make(count=3)(image, 32)  # smallest cutout = image size: every cutout is the whole image
    assert torch.allclose(out, image.expand(3, -1, -1, -1), atol=1e-5)


def test_smaller_cutouts_are_crops_of_the_image():
    image = gradient_image(size=64)
    out = make(count=8, cut_pow=1.0)(image, 16)
    # a crop of a horizontal ramp stays a ramp, increasing left to right, inside [0, 1]
    assert (out[:, 0, :, 1:] >= out[:, 0, :, :-1] - 1e-5).all()
    assert out.min() >= 0 and out.max() <= 1
    assert len({round(float(o[0].max() - o[0].min()), 3) for o in out}) > 1  # crops of different sizes


def test_flip_mirrors_some_cutouts_left_to_right():
    image = gradient_image()
    out = make(count=16, augment={"flip"})(image, 32)
    flipped = [torch.allclose(o, image[0].flip(-1), atol=1e-5) for o in out]
    kept = [torch.allclose(o, image[0], atol=1e-5) for o in out]
    assert any(flipped) and any(kept) and all(f or k for f, k in zip(flipped, kept))


def test_geometric_and_colour_augmentations_change_cutouts_but_stay_near_them():
    image = gradient_image()
    out = make(count=16, augment={"affine", "perspective", "colour"})(image, 32)
    differences = (out - image).abs().mean(dim=(1, 2, 3))
    assert (differences > 1e-3).sum() >= 8  # most cutouts are changed (each augmentation p = 0.7)
    assert differences.max() < 0.2


def test_noise_is_added_with_its_own_strength_per_cutout():
    image = torch.full((1, 3, 32, 32), 0.5)
    out = make(count=8, augment={"noise"})(image, 32)
    spread = (out - 0.5).std(dim=(1, 2, 3))
    assert spread.max() < 0.15 and spread.max() > 2 * spread.min()


def test_each_candidates_cutouts_depend_only_on_its_own_seed():
    images = torch.rand(3, 3, 32, 32)
    augment = {"affine", "perspective", "colour", "noise", "flip"}
    together = make(count=4, augment=augment, seeds=(7, 8, 9))(images, 16)
    alone = make(count=4, augment=augment, seeds=(8,))(images[1:2], 16)
    assert torch.allclose(together[4:8], alone, atol=1e-6)


def test_same_seed_same_cutouts_and_the_stream_moves_on():
    image = torch.rand(1, 3, 32, 32)
    cut = make(count=4, augment={"affine", "noise"}, seeds=(3,))
    first, second = cut(image, 16), cut(image, 16)
    assert torch.equal(first, make(count=4, augment={"affine", "noise"}, seeds=(3,))(image, 16))
    assert not torch.equal(first, second)


def test_gradients_reach_every_pixel_that_a_cutout_sees():
    image = torch.rand(2, 3, 32, 32, requires_grad=True)
    make(count=6, augment={"affine", "perspective", "colour", "noise"}, seeds=(1, 2))(image, 16).sum().backward()
    assert image.grad is not None and image.grad.abs().sum(dim=(1, 2, 3)).min() > 0
