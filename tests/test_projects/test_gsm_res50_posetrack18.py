"""projects/gsm_res50_posetrack18: ResNet-50 frames, GSM blocks only, T=3.

The config loads, builds with MMPose's registries and runs, through
MMEngine's Runner, one training iteration on a real 3-frame clip of the
sample video and a test run (flip test, PoseTrack AP) on the annotated
PoseTrack18 sample with ground-truth boxes (as the stock ResNet-50
PoseTrack18 config evaluates).  Only sizes are shrunk: the crop (64x96),
the neck (width 32, one GSM block), the data.
"""
import math

from mmpose.registry import MODELS
from projects_helpers import (PT18, PT18_ANN, assert_finite_loss, changed,
                              project_config, run_train_and_test,
                              sample_video_annotation, shrink_input,
                              small_loaders)

PROJECT = 'gsm_res50_posetrack18'
CONFIG = 'glsmamba-gsm-3f_res50_8xb32-20e_posetrack18-256x192.py'


def test_config_is_gsm_only_with_three_frames():
    cfg = project_config(PROJECT, CONFIG)
    assert cfg.model.backbone.type == 'ResNet'
    assert cfg.model.backbone.depth == 50
    assert cfg.model.neck.num_lrm == 0 and cfg.model.neck.num_gsm == 4
    assert cfg.model.neck.num_frames == 3
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.frame_offsets == (-1, 0, 1)
    assert 'bbox_file' not in cfg.val_dataloader.dataset  # stock: GT boxes


def test_full_size_model_builds():
    cfg = project_config(PROJECT, CONFIG)
    cfg.model.backbone.init_cfg = None
    cfg.model.encoder_neck.init_cfg = None
    model = MODELS.build(cfg.model)
    blocks = [type(b).__name__ for b in model.neck.blocks]
    assert blocks == ['GSMBlock'] * 4
    # SimpleBaseline's deconvolution stage, in the frozen encoder
    assert len(model.encoder_neck.deconv_layers) == 9
    assert not any(p.requires_grad for p in model.encoder_parameters())
    # the temporal embedding has one slot per frame of the 3-frame clip
    assert model.neck.temporal_embed.weight.shape == (3, 192)


def test_one_iteration_and_test_run(tmp_path):
    cfg = project_config(PROJECT, CONFIG)
    shrink_input(cfg)
    cfg.model.backbone.init_cfg = None  # no download in tests
    cfg.model.encoder_neck.init_cfg = None
    cfg.model.neck.update(embed_dims=32, num_gsm=1)
    cfg.model.head.in_channels = 32
    small_loaders(
        cfg,
        train_dataset=dict(
            data_root=PT18,
            ann_file=sample_video_annotation(str(tmp_path / 'video.json'))),
        test_dataset=dict(data_root=PT18, ann_file=PT18_ANN, indices=2),
        batch_size=2)
    cfg.val_evaluator.ann_file = PT18_ANN
    cfg.test_evaluator.ann_file = PT18_ANN
    probe = run_train_and_test(cfg, tmp_path)
    inputs = probe.batch['inputs'][0]
    assert inputs.shape == (3, 3, 96, 64)
    assert (inputs[0] != inputs[1]).any() and (inputs[2] != inputs[1]).any()
    assert_finite_loss(probe)
    assert changed(probe.before, probe.after, 'backbone.') == []
    assert changed(probe.before, probe.after, 'encoder_neck.') == []
    assert changed(probe.before, probe.after, 'neck.')
    assert probe.num_test_samples == 2
    ap = probe.test_metrics['posetrack/AP']  # the config's save_best key
    assert math.isfinite(ap) and 0 <= ap <= 100
