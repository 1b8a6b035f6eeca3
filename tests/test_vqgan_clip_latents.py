"""The latent side: codebook initialisation, straight-through quantisation, the gradient clamp."""

import torch

from artengine.plugins.clip_guided.latents import clamp_with_grad, codebook_range, quantize, random_latents


def test_random_latents_are_codebook_entries_drawn_per_seed():
    codebook = torch.randn(10, 4)
    z = random_latents(codebook, 3, 5, [torch.Generator().manual_seed(s) for s in (1, 2)])
    assert z.shape == (2, 4, 3, 5)
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 4)
    assert all(any(torch.equal(v, c) for c in codebook) for v in vectors)
    again = random_latents(codebook, 3, 5, [torch.Generator().manual_seed(2)])
    assert torch.equal(again[0], z[1])


def test_quantize_picks_the_nearest_codebook_vector_and_passes_gradients_straight_through():
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    z = torch.tensor([[[[0.9]], [[1.2]]], [[[-0.8]], [[1.7]]]], requires_grad=True)  # 2 x 2 x 1 x 1
    out = quantize(z, codebook)
    assert torch.equal(out.detach().flatten(), torch.tensor([1.0, 1.0, -1.0, 2.0]))
    (out * torch.tensor([1.0, 2.0])[None, :, None, None]).sum().backward()
    assert torch.equal(z.grad.flatten(), torch.tensor([1.0, 2.0, 1.0, 2.0]))


def test_codebook_range_is_per_channel():
    low, high = codebook_range(torch.tensor([[0.0, 5.0], [2.0, -1.0]]))
    assert low.flatten().tolist() == [0.0, -1.0] and high.flatten().tolist() == [2.0, 5.0]
    assert low.shape == (1, 2, 1, 1)


def test_clamp_keeps_gradients_that_lead_back_into_range_and_drops_the_others():
    values = torch.tensor([-0.5, -0.5, 0.5, 1.5, 1.5], requires_grad=True)
    out = clamp_with_grad(values)
    assert out.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    # descent moves against the gradient: a negative gradient raises the value
    out.backward(torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0]))
    assert values.grad.tolist() == [-1.0, 0.0, 1.0, 1.0, 0.0]
