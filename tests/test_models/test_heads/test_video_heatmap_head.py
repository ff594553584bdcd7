import torch
from mmpose.registry import MODELS
from model_builders import NUM_KEYPOINTS, make_samples

CODEC = dict(type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
             sigma=2)


def _head(**kwargs):
    return MODELS.build(dict(type='VideoHeatmapHead', in_channels=8,
                             out_channels=NUM_KEYPOINTS, decoder=CODEC,
                             **kwargs))


def test_forward_shapes():
    feats = (torch.randn(2, 8, 16, 12), )
    assert _head()(feats).shape == (2, NUM_KEYPOINTS, 16, 12)
    head = _head(conv_out_channels=(8, ))
    assert head(feats).shape == (2, NUM_KEYPOINTS, 16, 12)
    assert head.conv_layers[0].kernel_size == (3, 3)


def test_loss_is_weighted_mse():
    head = _head()
    samples = make_samples(2)
    samples[1].gt_instance_labels.keypoint_weights[:, 0] = 0
    feats = (torch.randn(2, 8, 16, 12), )
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'acc_pose'}
    pred = head(feats)
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    w = torch.cat([s.gt_instance_labels.keypoint_weights
                   for s in samples])[:, :, None, None]
    # KeypointMSELoss: mean over samples, keypoints and pixels
    expected = ((pred - gt) * w).square().mean()
    assert torch.allclose(losses['loss_kpt'], expected, rtol=1e-5)


def test_predict_and_flip_test():
    head = _head().eval()
    samples = make_samples(2)
    feats = (torch.randn(2, 8, 16, 12), )
    preds = head.predict(feats, samples, test_cfg=dict(flip_test=False))
    assert preds[0].keypoints.shape == (1, NUM_KEYPOINTS, 2)
    assert preds[0].keypoint_scores.shape == (1, NUM_KEYPOINTS)
    # flip test with mirrored features = the same heatmaps averaged
    mirrored = (feats[0].flip(-1), )
    _, fields = head.predict([feats, mirrored], samples,
                             test_cfg=dict(flip_test=True,
                                           output_heatmaps=True))
    direct = head(feats)[0]
    flipped = head(mirrored)[0].flip(-1)[[0, 2, 1, 4, 3]]
    assert torch.allclose(fields[0].heatmaps, (direct + flipped) / 2,
                          atol=1e-6)


def test_state_dict_round_trip():
    head = _head(conv_out_channels=(8, ))
    other = _head(conv_out_channels=(8, ))
    other.load_state_dict(head.state_dict())
    feats = (torch.randn(1, 8, 16, 12), )
    head.eval(), other.eval()
    assert torch.equal(head(feats), other(feats))
