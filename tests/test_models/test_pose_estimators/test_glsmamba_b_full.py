"""The full GLSMamba-B (configs/stmamba_posetrack18.py) on one clip, CPU.

Slow (tens of seconds: ViT-B on 5 frames and six blocks over 15,360
tokens with the CPU scan); the only full-size test.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS
from model_builders import make_clips, make_samples

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))


@pytest.mark.slow
def test_glsmamba_b_one_clip():
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/stmamba_posetrack18.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.encoder_neck.init_cfg = None
    cfg.model.test_cfg.flip_test = False
    cfg.model.test_cfg.output_heatmaps = True
    model = MODELS.build(cfg.model).eval()
    seen = {}
    model.encoder_neck.register_forward_hook(
        lambda m, args, out: seen.update(encoder=out[-1].shape))
    model.neck.register_forward_hook(
        lambda m, args, out: seen.update(neck=out[-1]))
    samples = make_samples(1, input_size=(192, 256), heatmap_size=(48, 64))
    samples[0].set_metainfo(dict(flip_indices=list(range(17))))
    data = model.data_preprocessor(
        dict(inputs=make_clips(1, 5, size=(256, 192)), data_samples=samples))
    assert data['inputs'].shape == (1, 5, 3, 256, 192)
    with torch.no_grad():  # one forward pass
        results = model(**data, mode='predict')
    assert seen['encoder'] == (5, 256, 64, 48)  # B * T frames
    assert seen['neck'].shape == (1, 5, 192, 64, 48)
    assert torch.isfinite(seen['neck']).all()
    assert results[0].pred_fields.heatmaps.shape == (17, 64, 48)
    pred = results[0].pred_instances
    assert pred.keypoints.shape == (1, 17, 2)
    assert pred.keypoint_scores.shape == (1, 17)
