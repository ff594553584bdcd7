"""projects/glsmamba_hrnet_posetrack18: HRNet-W32 frames + GLSMamba neck.

Each config loads, builds with MMPose's registries and runs, through
MMEngine's Runner, one training iteration on a real 5-frame clip of the
sample video and a test run (flip test, PoseTrack AP) on the annotated
PoseTrack18 sample with its real detections.  Only sizes are shrunk: the
crop (64x96), the neck (width 32, one GSM and one LRM block), the data.
"""
import math

import pytest
from mmengine.optim import build_optim_wrapper
from mmpose.registry import MODELS
from projects_helpers import (PT18, PT18_ANN, PT18_DET, assert_finite_loss,
                              changed, project_config, run_train_and_test,
                              sample_video_annotation, shrink_input,
                              small_loaders)

PROJECT = 'glsmamba_hrnet_posetrack18'
FROZEN = 'glsmamba_hrnet-w32-frozen_8xb32-20e_posetrack18-256x192.py'
TRAINABLE = 'glsmamba_hrnet-w32-trainable_8xb16-20e_posetrack18-256x192.py'


def small_config(name, tmp_path):
    cfg = project_config(PROJECT, name)
    shrink_input(cfg)
    cfg.model.backbone.init_cfg = None  # no download in tests
    cfg.model.neck.update(embed_dims=32, num_gsm=1, num_lrm=1)
    cfg.model.head.in_channels = 32
    small_loaders(
        cfg,
        train_dataset=dict(
            data_root=PT18,
            ann_file=sample_video_annotation(str(tmp_path / 'video.json'))),
        test_dataset=dict(
            data_root=PT18, ann_file=PT18_ANN, bbox_file=PT18_DET, indices=2))
    cfg.val_evaluator.ann_file = PT18_ANN
    cfg.test_evaluator.ann_file = PT18_ANN
    return cfg


def test_stock_parts_are_kept():
    cfg = project_config(PROJECT, FROZEN)
    # HRNet-W32 exactly as MMPose's PoseTrack18 config builds it
    assert cfg.model.backbone.type == 'HRNet'
    assert cfg.model.backbone.extra.stage4.num_channels == (32, 64, 128, 256)
    assert cfg.model.neck.num_gsm == 4 and cfg.model.neck.num_lrm == 2
    assert cfg.model.neck.in_channels == 32
    assert cfg.model.freeze_encoder is True
    assert cfg.train_cfg.max_epochs == 20  # stock schedule
    assert cfg.param_scheduler[1].milestones == [10, 15]
    # the stock val set uses detections, with the stock score filter
    assert cfg.val_dataloader.dataset.filter_cfg.bbox_score_thr == 0.4
    assert cfg.train_dataloader.dataset.frame_offsets == (-2, -1, 0, 1, 2)
    trainable = project_config(PROJECT, TRAINABLE)
    assert trainable.model.freeze_encoder is False
    assert trainable.optim_wrapper.paramwise_cfg.custom_keys.backbone == dict(
        lr_mult=0.1)


@pytest.mark.parametrize('name', [FROZEN, TRAINABLE])
def test_full_size_model_builds(name):
    cfg = project_config(PROJECT, name)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'VideoTopdownPoseEstimator'
    assert len(model.neck.blocks) == 6
    frozen = not any(p.requires_grad for p in model.backbone.parameters())
    assert frozen == (name == FROZEN)
    # the trainable encoder learns 10x slower than the new neck and head
    optim = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    lr = {id(p): g['lr'] for g in optim.param_groups for p in g['params']}
    backbone = {lr[id(p)] for p in model.backbone.parameters()}
    neck = {lr[id(p)] for p in model.neck.parameters()}
    assert neck == {5e-4}
    assert len(backbone) == 1
    assert backbone.pop() == pytest.approx(5e-4 if name == FROZEN else 5e-5)


def test_frozen_encoder_trains_neck_only(tmp_path):
    probe = run_train_and_test(small_config(FROZEN, tmp_path), tmp_path)
    inputs = probe.batch['inputs'][0]
    assert inputs.shape == (5, 3, 96, 64)
    # a real clip: the five frames differ
    assert all((inputs[t] != inputs[2]).any() for t in (0, 1, 3, 4))
    assert_finite_loss(probe)
    # weights and BatchNorm statistics of HRNet are untouched
    assert changed(probe.before, probe.after, 'backbone.') == []
    assert changed(probe.before, probe.after, 'neck.')
    assert changed(probe.before, probe.after, 'head.')
    metrics = probe.test_metrics
    assert probe.num_test_samples == 2
    assert 'posetrack/AP' in metrics  # the config's save_best key
    assert math.isfinite(metrics['posetrack/AP'])
    assert 0 <= metrics['posetrack/AP'] <= 100


def test_trainable_encoder_is_updated(tmp_path):
    probe = run_train_and_test(small_config(TRAINABLE, tmp_path), tmp_path)
    assert_finite_loss(probe)
    moved = changed(probe.before, probe.after, 'backbone.')
    assert any(k.endswith('.weight') for k in moved)
    assert any(k.endswith('running_mean') for k in moved)  # BN trains
    assert 'posetrack/AP' in probe.test_metrics
