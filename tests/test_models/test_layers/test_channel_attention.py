import pytest
import torch

from mmpose_stmamba.models.layers import SequentialChannelAttention


@pytest.mark.parametrize('T', [1, 3, 5, 7])
def test_shapes_any_clip_length(T):
    att = SequentialChannelAttention(8, num_frames=5, reduction=2)
    x = torch.randn(2, T, 4, 3, 8)
    assert att(x).shape == x.shape


def test_weights_are_per_frame_and_use_the_whole_clip():
    torch.manual_seed(0)
    att = SequentialChannelAttention(4, num_frames=3, reduction=1)
    x = torch.rand(1, 3, 2, 2, 4) + 0.5
    w = att(x) / x  # the per-frame channel weights
    # constant over space, different between frames, in (0, 1)
    assert torch.allclose(w[0, 0, 0, 0], w[0, 0, 1, 1])
    assert not torch.allclose(w[0, 0, 0, 0], w[0, 1, 0, 0])
    assert ((w > 0) & (w < 1)).all()
    # changing frame 2 changes the weights of frame 0
    x2 = x.clone()
    x2[:, 2] += 1
    assert not torch.allclose((att(x2) / x2)[0, 0], w[0, 0])
    assert sum(p.numel() for p in att.parameters()) == 2 * 12 * 12 + 24


def test_bad_reduction():
    with pytest.raises(ValueError, match='reduction'):
        SequentialChannelAttention(4, reduction=0)
