import pytest
import torch
from mmpose.registry import MODELS
from model_builders import make_clips, make_samples

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_bgr_to_rgb_and_normalise_per_frame():
    pre = MODELS.build(dict(type='ClipPoseDataPreprocessor', mean=MEAN,
                            std=STD, bgr_to_rgb=True))
    clips, samples = make_clips(2, num_frames=3), make_samples(2)
    out = pre(dict(inputs=clips, data_samples=samples))
    x = out['inputs']
    assert x.shape == (2, 3, 3, 64, 48) and x.dtype == torch.float32
    for c, src in enumerate([2, 1, 0]):  # output RGB from input BGR
        expected = (clips[1][:, src].float() - MEAN[c]) / STD[c]
        assert torch.allclose(x[1, :, c], expected, atol=1e-5)
    meta = out['data_samples'][0].metainfo
    assert meta['batch_input_shape'] == (64, 48)
    assert meta['pad_shape'] == (64, 48)


def test_without_conversion_and_bad_shape():
    pre = MODELS.build(dict(type='ClipPoseDataPreprocessor'))
    clips = make_clips(1, num_frames=2)
    x = pre(dict(inputs=clips, data_samples=make_samples(1)))['inputs']
    assert torch.equal(x[0], clips[0].float())
    with pytest.raises(ValueError, match='T, 3, H, W'):
        pre(dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)],
                 data_samples=make_samples(1)))
