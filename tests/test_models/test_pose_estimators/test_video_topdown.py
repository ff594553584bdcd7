import pytest
import torch
from mmpose.registry import MODELS
from model_builders import (NUM_KEYPOINTS, make_clips, make_samples,
                            tiny_estimator_cfg)


def _batch(model, batch_size=2, num_frames=5, training=False, **kwargs):
    data = dict(
        inputs=make_clips(batch_size, num_frames),
        data_samples=make_samples(batch_size, num_frames, **kwargs))
    return model.data_preprocessor(data, training=training)


def test_loss_only_non_encoder_parts_train():
    torch.manual_seed(0)
    model = MODELS.build(tiny_estimator_cfg())
    model.train()
    losses = model(**_batch(model, training=True), mode='loss')
    assert set(losses) == {'loss_kpt', 'acc_pose'}
    losses['loss_kpt'].backward()
    for name, p in model.named_parameters():
        if name.startswith(('backbone.', 'encoder_neck.')):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.requires_grad and p.grad is not None, name
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    non_encoder = sum(
        p.numel() for m in (model.neck, model.head) for p in m.parameters())
    assert trainable == non_encoder


def test_frozen_encoder_stays_in_eval_mode():
    model = MODELS.build(tiny_estimator_cfg())
    model.train()
    assert model.neck.training and model.head.training
    assert not any(m.training for m in model.backbone.modules())
    assert not any(m.training for m in model.encoder_neck.modules())
    # BN statistics of the deconvs do not move in training
    bn = model.encoder_neck.deconv_layers[1]
    before = bn.running_mean.clone()
    model(**_batch(model, training=True), mode='loss')
    assert torch.equal(bn.running_mean, before)


def test_unfrozen_encoder_trains():
    model = MODELS.build(tiny_estimator_cfg(freeze_encoder=False))
    model.train()
    assert model.backbone.training
    model(**_batch(model, training=True), mode='loss')['loss_kpt'].backward()
    assert model.backbone.patch_embed.projection.weight.grad is not None


@pytest.mark.parametrize('T', [1, 3, 5, 7])
def test_predict_any_clip_length(T):
    model = MODELS.build(tiny_estimator_cfg(num_frames=5)).eval()
    with torch.no_grad():
        results = model(**_batch(model, num_frames=T), mode='predict')
    assert len(results) == 2
    pred = results[0].pred_instances
    assert pred.keypoints.shape == (1, NUM_KEYPOINTS, 2)
    assert pred.keypoint_scores.shape == (1, NUM_KEYPOINTS)
    assert pred.bboxes.shape == (1, 4)


def test_predictions_are_in_image_coordinates():
    model = MODELS.build(tiny_estimator_cfg()).eval()
    data = _batch(model)
    with torch.no_grad():
        heatmaps = model(**data, mode='tensor')
        results = model(**data, mode='predict')
    kpts_input = model.head.decode(heatmaps)[0].keypoints  # input space
    meta = data['data_samples'][0].metainfo
    expected = (kpts_input / meta['input_size'] * meta['input_scale'] +
                meta['input_center'] - 0.5 * meta['input_scale'])
    assert torch.allclose(
        torch.as_tensor(results[0].pred_instances.keypoints),
        torch.as_tensor(expected), atol=1e-4)


def test_flip_test_averages_with_the_flipped_clip():
    torch.manual_seed(0)
    model = MODELS.build(tiny_estimator_cfg(flip_test=True)).eval()
    model.test_cfg['output_heatmaps'] = True
    data = _batch(model)
    with torch.no_grad():
        results = model(**data, mode='predict')
        direct = model._forward(data['inputs'], data['data_samples'])
        mirrored = model._forward(data['inputs'].flip(-1),
                                  data['data_samples'])
    flipped = mirrored.flip(-1)[:, [0, 2, 1, 4, 3]]
    assert torch.allclose(results[0].pred_fields.heatmaps,
                          ((direct + flipped) / 2)[0], atol=1e-5)


def test_key_frame_index():
    model = MODELS.build(tiny_estimator_cfg()).eval()
    samples = make_samples(2, frame_offsets=(-1, 0, 1, 2, 3))
    assert model.key_indices(5, samples, 2) == [1, 1]
    assert model.key_indices(5, make_samples(2), 2) == [2, 2]
    model.key_index = 0
    assert model.key_indices(5, None, 2) == [0, 0]
    feats = (torch.arange(10.).view(2, 5, 1), )
    assert model.key_frame(feats, samples)[0].flatten().tolist() == [1., 6.]
    with pytest.raises(ValueError, match='key frame'):
        model.key_index = 7
        model.key_indices(5, None, 1)


def test_tensor_mode_heatmaps():
    model = MODELS.build(tiny_estimator_cfg()).eval()
    data = _batch(model, batch_size=1)
    with torch.no_grad():
        out = model(**data, mode='tensor')
    assert out.shape == (1, NUM_KEYPOINTS, 16, 12)
