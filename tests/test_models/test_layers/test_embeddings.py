import math

import pytest
import torch

from mmpose_stmamba.models.layers import (TemporalEmbedding, offset_slots,
                                          sincos_embedding_2d)


@pytest.mark.parametrize('T,expected', [
    (5, [0, 1, 2, 3, 4]),
    (3, [1, 2, 3]),
    (1, [2]),
    (7, [0, 0, 1, 2, 3, 4, 4]),
])
def test_offset_slots_centre_key_frame_and_clamp(T, expected):
    assert offset_slots(T, 5).tolist() == expected


def test_sincos_embedding_values():
    emb = sincos_embedding_2d(4, 3, 8)
    assert emb.shape == (4, 3, 8)
    # rows: channels 0..3 = [sin(h f), cos(h f)], f = (1, 1e-2)
    assert torch.allclose(emb[2, 1, 0], torch.tensor(math.sin(2.)))
    assert torch.allclose(emb[2, 1, 2], torch.tensor(math.cos(2.)))
    assert torch.allclose(emb[2, 1, 5], torch.tensor(math.sin(1e-2)))
    # columns do not depend on the row and vice versa
    assert torch.equal(emb[0, :, 4:], emb[3, :, 4:])
    assert torch.equal(emb[:, 0, :4], emb[:, 2, :4])
    with pytest.raises(ValueError, match='multiple of 4'):
        sincos_embedding_2d(2, 2, 6)


@pytest.mark.parametrize('T', [1, 3, 5, 7])
def test_temporal_embedding_any_length(T):
    emb = TemporalEmbedding(8, num_frames=5)
    out = emb(T)
    assert out.shape == (T, 8)
    # the key frame always gets the centre slot
    assert torch.equal(out[T // 2], emb.weight[2])
