"""The loss terms: each is zero where it should be, grows as it should, and is differentiable."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import artengine
import artengine.plugins.losses as losses
from artengine.plugins.losses.terms import spherical_distance


def make(loss_class, weight=1.0, **options):
    from artengine.options import resolve_options

    return loss_class({"weight": weight, **resolve_options(loss_class.options, options, "test")}, "cpu")


def context(**given):
    """What a generator tells its losses: the fields `given`, the rest not given (None)."""
    request = artengine.Request(artengine.parse_prompt("a red circle"), (0,), (8, 8), "cpu", {})
    return artengine.LossContext(request, steps=1, **given)


def test_spherical_distance_is_zero_for_equal_directions_and_largest_for_opposite_ones():
    a = torch.tensor([[3.0, 0.0]])
    assert spherical_distance(a, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert spherical_distance(a, torch.tensor([[0.0, 2.0]])).item() == pytest.approx(2 * (math.pi / 4) ** 2, rel=1e-5)
    assert spherical_distance(a, torch.tensor([[-1.0, 0.0]])).item() == pytest.approx(math.pi**2 / 2, rel=1e-5)


def test_tv_is_zero_for_flat_images_and_grows_with_edges():
    tv = make(losses.TotalVariationLoss)
    flat = torch.full((2, 3, 8, 8), 0.3)
    stripes = flat.clone()
    stripes[..., ::2] = 1.0
    assert tv(flat, context()).item() == 0
    assert tv(stripes, context()).item() > 0.1


def test_symmetry_is_zero_for_mirror_images_only():
    symmetric = torch.rand(1, 3, 8, 4)
    symmetric = torch.cat([symmetric, symmetric.flip(-1)], -1)
    assert make(losses.SymmetryLoss)(symmetric, context()).item() == 0
    assert make(losses.SymmetryLoss, axis="horizontal")(symmetric, context()).item() > 0
    assert make(losses.SymmetryLoss, axis="both")(symmetric, context()).item() > 0


def test_palette_is_zero_when_every_pixel_is_a_palette_colour():
    palette = make(losses.PaletteLoss, colours=["red", "#0000ff"])
    image = torch.zeros(1, 3, 4, 4)
    image[:, 0, :2] = 1.0
    image[:, 2, 2:] = 1.0
    assert palette(image, context()).item() == pytest.approx(0.0, abs=1e-7)
    assert palette(torch.full((1, 3, 4, 4), 0.5), context()).item() > 0.2


def test_palette_refuses_unknown_colours_when_chosen():
    with pytest.raises(artengine.UsageError, match="'rouge' is not a colour"):
        make(losses.PaletteLoss, colours=["red", "rouge"])


def test_saturation_pulls_towards_its_target():
    grey = torch.full((1, 3, 4, 4), 0.5)
    pure = torch.zeros(1, 3, 4, 4)
    pure[:, 1] = 1.0
    assert make(losses.SaturationLoss)(grey, context()).item() == pytest.approx(1.0)
    assert make(losses.SaturationLoss)(pure, context()).item() == pytest.approx(0.0, abs=1e-6)
    assert make(losses.SaturationLoss, target=0.0)(grey, context()).item() == pytest.approx(0.0)


def test_init_loss_compares_latents_or_pixels_and_needs_an_init_image():
    images = torch.rand(2, 3, 8, 8)
    latents = torch.rand(2, 4, 1, 1)
    given = context(latents=latents, init_latents=latents + 1, init_images=images)
    assert make(losses.InitLoss)(images, given).item() == pytest.approx(0.5)
    assert make(losses.InitLoss, space="pixels")(images, given).item() == 0
    with pytest.raises(artengine.UsageError, match="init_image"):
        make(losses.InitLoss)(images, context(latents=latents))


def guide(targets, weights, weight=1.0):
    """A CLIP guide whose model embeds an image as its mean colour."""
    model = SimpleNamespace(encode_image=lambda x: F.normalize(x.mean(dim=(2, 3)), dim=-1))
    return SimpleNamespace(model=model, weight=weight, image_size=4, targets=F.normalize(torch.tensor(targets), dim=-1),
                           target_weights=torch.tensor(weights), text_targets=None)


def context_for(*guides):
    return context(guides=guides, cutouts=lambda images, size: F.interpolate(images, size=(size, size)))


def test_clip_loss_is_the_weighted_distance_to_the_targets_and_a_negative_weight_pushes_away():
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1
    clip = make(losses.ClipLoss)
    near = clip(red, context_for(guide([[1.0, 0.0, 0.0]], [1.0]))).item()
    far = clip(red, context_for(guide([[0.0, 0.0, 1.0]], [1.0]))).item()
    assert near == pytest.approx(0.0, abs=1e-6) and far > 1
    assert clip(red, context_for(guide([[0.0, 0.0, 1.0]], [-1.0]))).item() == pytest.approx(-far)
    both = clip(red, context_for(guide([[0.0, 0.0, 1.0]], [1.0], weight=0.5), guide([[0.0, 0.0, 1.0]], [1.0], weight=2)))
    assert both.item() == pytest.approx(2.5 * far)


def test_clip_loss_gradient_moves_the_image_towards_the_prompt():
    image = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    make(losses.ClipLoss)(image, context_for(guide([[1.0, 0.0, 0.0]], [1.0]))).backward()
    red, green, blue = image.grad.sum(dim=(0, 2, 3)).tolist()
    assert red < 0 < green and blue > 0  # descent raises red, lowers green and blue


def test_losses_say_what_context_they_lack():
    with pytest.raises(artengine.UsageError, match="loss 'clip' needs 'guides' from the generator"):
        make(losses.ClipLoss)(torch.rand(1, 3, 4, 4), context())
