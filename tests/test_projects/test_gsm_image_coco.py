"""projects/gsm_image_coco: GSM blocks as a neck of a stock COCO model.

Checks the adapter neck (``SingleFrameClipNeck``) against the block it
wraps, then runs the project config (MMPose's ``TopdownPoseEstimator``,
single images) through MMEngine's Runner: one training iteration and a
test run with the stock ``CocoDataset`` and ``CocoMetric``, pointed at the
annotated PoseTrack18 sample (COCO-style, 17 keypoints, no ``area`` field,
hence ``use_area=False``).  Only the crop (64x96) and the data are shrunk.
"""
import math
import os.path as osp

import mmpose
import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS
from projects_helpers import (PT18, PT18_ANN, assert_finite_loss, changed,
                              project_config, run_train_and_test, shrink_input,
                              small_loaders)

PROJECT = 'gsm_image_coco'
CONFIG = 'td-hm_hrnet-w32-gsm_8xb64-210e_coco-256x192.py'


def gsm(**kwargs):
    cfg = dict(type='GSMBlock', channels=8, num_frames=1, scans=('spatial', ))
    cfg.update(kwargs)
    return cfg


def test_neck_is_the_block_on_a_one_frame_clip():
    # building the project config registers the adapter neck
    project_config(PROJECT, CONFIG)
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='SingleFrameClipNeck', blocks=gsm()))
    low, x = torch.randn(2, 4, 12, 8), torch.randn(2, 8, 6, 4)
    out = neck((low, x))
    assert len(out) == 2 and out[0] is low  # other maps pass through
    block = neck.blocks[0]
    expected = block(x.permute(0, 2, 3, 1)[:, None])[:, 0]
    torch.testing.assert_close(out[1], expected.permute(0, 3, 1, 2))
    assert not torch.allclose(out[1], x)  # the block did something
    out[1].sum().backward()
    assert block.in_proj.weight.grad.abs().sum() > 0


def test_neck_runs_blocks_in_order_and_checks_input():
    project_config(PROJECT, CONFIG)
    neck = MODELS.build(
        dict(
            type='SingleFrameClipNeck',
            blocks=[gsm(),
                    dict(type='LRMBlock', channels=8, window=(2, 2))]))
    assert [type(b).__name__ for b in neck.blocks] == ['GSMBlock', 'LRMBlock']
    assert neck((torch.randn(1, 8, 6, 4), ))[0].shape == (1, 8, 6, 4)
    with pytest.raises(ValueError, match='B, C, H, W'):
        neck((torch.randn(1, 1, 8, 6, 4), ))
    with pytest.raises(ValueError, match='at least one block'):
        MODELS.build(dict(type='SingleFrameClipNeck', blocks=[]))


def without_scope(node):
    """Drop the ``_scope_`` keys mmengine adds to ``mmpose::`` bases."""
    if isinstance(node, dict):
        return {k: without_scope(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(without_scope(v) for v in node)
    return node


def test_only_the_neck_differs_from_the_stock_config():
    cfg = project_config(PROJECT, CONFIG)
    stock = Config.fromfile(
        osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'configs',
            'body_2d_keypoint', 'topdown_heatmap', 'coco',
            'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'))
    assert 'neck' not in stock.model
    model = without_scope(cfg.model.to_dict())
    neck = model.pop('neck')
    assert model == without_scope(stock.model.to_dict())
    assert neck['type'] == 'SingleFrameClipNeck'
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                'optim_wrapper', 'param_scheduler', 'train_cfg',
                'default_hooks'):
        assert without_scope(cfg[key]) == without_scope(stock[key]), key


def test_one_iteration_and_test_run(tmp_path):
    cfg = project_config(PROJECT, CONFIG)
    shrink_input(cfg)
    cfg.model.backbone.init_cfg = None  # no download in tests
    sample = dict(data_root=PT18, ann_file=PT18_ANN, data_prefix=dict(img=''))
    small_loaders(
        cfg,
        train_dataset=dict(sample, indices=2),
        test_dataset=dict(sample, bbox_file=None, indices=2),
        batch_size=2)
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].update(ann_file=PT18_ANN, use_area=False)
    probe = run_train_and_test(cfg, tmp_path)
    assert probe.batch['inputs'][0].shape == (3, 96, 64)  # single images
    assert_finite_loss(probe)
    assert changed(probe.before, probe.after, 'neck.blocks.0.')
    assert changed(probe.before, probe.after, 'backbone.')
    assert probe.num_test_samples == 2
    ap = probe.test_metrics['coco/AP']  # the stock save_best key
    assert math.isfinite(ap) and -1 <= ap <= 1
