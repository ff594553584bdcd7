import pytest
import torch

from mmpose_stmamba.models.layers import (DeformableAggregation, KeepStream,
                                          STMMerge)


def test_sum_merge_is_the_sum_and_has_no_parameters():
    merge = STMMerge(4, ('unified', 'spatial', 'temporal'), merge='sum')
    y = torch.randn(2, 3, 4, 3, 5, 4)
    assert torch.allclose(merge(y), y.sum(1))
    assert sum(p.numel() for p in merge.parameters()) == 0


def test_stmm_modulates_spatial_and_temporal_only():
    merge = STMMerge(8, ('unified', 'spatial', 'temporal'), groups=2)
    kinds = [type(m) for m in merge.modulators]
    assert kinds == [KeepStream, DeformableAggregation,
                     DeformableAggregation]
    assert merge.modulators[1].sampler.frame_taps == (0, )
    assert merge.modulators[2].sampler.frame_taps == (-1, 0, 1)
    y = torch.randn(1, 3, 8, 3, 4, 4, requires_grad=True)
    out = merge(y)
    assert out.shape == (1, 8, 3, 4, 4)
    out.sum().backward()
    assert y.grad[:, 1].abs().sum() > 0
    # unified-only STMM costs no parameters (the paper's 9.1M row)
    assert sum(p.numel() for p in STMMerge(8, ('unified', )).parameters()
               ) == 0


def test_bad_merge():
    with pytest.raises(ValueError, match='merge'):
        STMMerge(4, ('unified', ), merge='concat')


def test_unbind_gradient_keeps_the_layout():
    """The parts' gradients come back in one tensor laid out like the
    input (the fused scan's channels-last one here), equal to autograd's
    through plain indexing."""
    from mmpose_stmamba.models.layers.stmm import _Unbind
    torch.manual_seed(0)
    base = torch.randn(2, 4 * 5 * 2, 3, 6)  # (B, L, P, Dm) in memory
    y = base.permute(0, 2, 3, 1).view(2, 3, 6, 4, 5, 2)
    y = y.detach().requires_grad_()
    weights = torch.randn(3)
    parts = _Unbind.apply(y)
    loss = sum(w * p.square().sum() for w, p in zip(weights, parts[:2]))
    (grad, ) = torch.autograd.grad(loss, y)
    assert grad.stride() == y.stride()
    ref = y.detach().clone().requires_grad_()
    loss = sum(w * ref[:, i].square().sum()
               for i, w in enumerate(weights[:2]))
    (expected, ) = torch.autograd.grad(loss, ref)
    assert torch.allclose(grad, expected)  # part 2 unused: zeros
