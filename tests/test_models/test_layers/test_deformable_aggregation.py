import pytest
import torch
import torch.nn.functional as F

from mmpose_stmamba.models.layers import (DeformableAggregation,
                                          ModulatedDeformSampler)
from mmpose_stmamba.models.layers.deformable_aggregation import (_SampleAndSum,
                                                                 shift_frames)


def _random_inputs(taps, k, G=2, C=4, B=2, T=3, H=5, W=4, scale=1.5):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, C, T, H, W, generator=gen)
    offsets = torch.randn(B, G, taps, k * k, 2, T, H, W,
                          generator=gen) * scale
    masks = torch.rand(B, G, taps, k * k, T, H, W, generator=gen)
    return x, offsets, masks


@pytest.mark.parametrize('frame_taps,k', [((0, ), 3), ((-1, 0, 1), 1),
                                          ((-1, 0, 1), 3)])
def test_grid_sample_matches_torchvision_dcnv2(frame_taps, k):
    x, offsets, masks = _random_inputs(len(frame_taps), k)
    ours = ModulatedDeformSampler(4, frame_taps, k, 2, 'grid_sample')
    ref = ModulatedDeformSampler(4, frame_taps, k, 2, 'torchvision')
    with torch.no_grad():
        ours.weight.normal_()
    ref.load_state_dict(ours.state_dict())
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    o1 = offsets.clone().requires_grad_()
    o2 = offsets.clone().requires_grad_()
    m1, m2 = masks.clone().requires_grad_(), masks.clone().requires_grad_()
    out1, out2 = ours(x1, o1, m1), ref(x2, o2, m2)
    assert torch.allclose(out1, out2, atol=1e-5)
    grad = torch.randn_like(out1)
    (out1 * grad).sum().backward()
    (out2 * grad).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert torch.allclose(o1.grad, o2.grad, atol=1e-4)
    assert torch.allclose(m1.grad, m2.grad, atol=1e-4)
    assert torch.allclose(ours.weight.grad, ref.weight.grad, atol=1e-4)


def test_sample_and_sum_gradcheck():
    """The memory-lean backward (recompute one point at a time) against
    finite differences, in float64."""
    gen = torch.Generator().manual_seed(1)
    N, G, c, H, W, P = 1, 2, 2, 4, 3, 3
    frames = torch.randn(N * G, c, H, W, generator=gen, dtype=torch.float64)
    grid = torch.rand(N * G, H, W, P, 2, generator=gen,
                      dtype=torch.float64) * 1.8 - 0.9
    masks = torch.rand(N, G, H, W, P, generator=gen, dtype=torch.float64)
    weight = torch.randn(G, c, P, generator=gen, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (frames, grid, masks, weight)]
    assert torch.autograd.gradcheck(_SampleAndSum.apply, inputs)


def test_zero_offsets_is_a_masked_depthwise_conv():
    x, offsets, masks = _random_inputs(1, 3, G=1, C=3)
    sampler = ModulatedDeformSampler(3, (0, ), 3, 1, 'grid_sample')
    out = sampler(x, torch.zeros_like(offsets), torch.ones_like(masks))
    frames = x.transpose(1, 2).flatten(0, 1)
    conv = F.conv2d(frames, sampler.weight.view(3, 1, 3, 3), padding=1,
                    groups=3)
    assert torch.allclose(out, conv.view(2, 3, 3, 5, 4).transpose(1, 2),
                          atol=1e-6)


def test_temporal_taps_read_neighbouring_frames():
    x = torch.zeros(1, 1, 3, 2, 2)
    x[:, :, 0] = 1.
    sampler = ModulatedDeformSampler(1, (-1, ), 1, 1, 'grid_sample')
    offsets = torch.zeros(1, 1, 1, 1, 2, 3, 2, 2)
    masks = torch.ones(1, 1, 1, 1, 3, 2, 2)
    out = sampler(x, offsets, masks) / sampler.weight.item()
    # frame t reads frame t - 1: only frame 1 sees the ones of frame 0
    assert out[0, 0, :, 0, 0].tolist() == [0., 1., 0.]


def test_shift_frames():
    x = torch.arange(4.).view(1, 1, 4, 1, 1)
    assert shift_frames(x, 1).flatten().tolist() == [1., 2., 3., 0.]
    assert shift_frames(x, -2).flatten().tolist() == [0., 0., 0., 1.]
    assert shift_frames(x, 0) is x


@pytest.mark.parametrize('impl', ['grid_sample', 'torchvision'])
def test_aggregation_starts_as_plain_conv_and_learns_offsets(impl):
    torch.manual_seed(0)
    agg = DeformableAggregation(8, frame_taps=(-1, 0, 1), kernel_size=1,
                                groups=2, impl=impl)
    x, guide = torch.randn(2, 8, 3, 4, 5), torch.randn(2, 8, 3, 4, 5)
    out = agg(x, guide)
    assert out.shape == x.shape
    out.square().sum().backward()
    # zero-initialised offset head still receives a gradient
    assert agg.offset_pw.weight.grad.abs().sum() > 0
    assert agg.sampler.weight.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match='impl'):
        ModulatedDeformSampler(4, (0, ), 3, 2, 'mmcv')
    with pytest.raises(ValueError, match='divisible'):
        ModulatedDeformSampler(6, (0, ), 3, 4, 'grid_sample')


@pytest.mark.parametrize('with_cp', [True, 'sampling', 'all'])
def test_with_cp_gives_the_same_gradients(with_cp):
    torch.manual_seed(0)
    plain = DeformableAggregation(8, frame_taps=(-1, 0, 1), groups=2)
    with torch.no_grad():
        plain.offset_pw.weight.normal_(std=0.1)
    cp = DeformableAggregation(8, frame_taps=(-1, 0, 1), groups=2,
                               with_cp=with_cp)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(1, 8, 3, 4, 5)
    guide = torch.randn(1, 8, 3, 4, 5)
    outs = []
    for module in (plain, cp):
        xi, gi = (t.clone().requires_grad_() for t in (x, guide))
        out = module(xi, gi)
        out.square().sum().backward()
        outs.append((out.detach(), xi.grad, gi.grad,
                     *(p.grad for p in module.parameters())))
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-6)


def test_with_cp_all_keeps_only_the_inputs():
    """'all': nothing of the aggregation is kept for the backward but its
    inputs and parameters."""
    module = DeformableAggregation(8, groups=2, with_cp='all')
    x, guide = (torch.randn(1, 8, 2, 4, 5, requires_grad=True)
                for _ in range(2))
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.append(t.numel()) or t, lambda t: t):
        module(x, guide)
    assert sum(kept) <= 2 * x.numel() + sum(
        p.numel() for p in module.parameters())
    with pytest.raises(ValueError, match='with_cp'):
        DeformableAggregation(8, groups=2, with_cp='offsets')
