"""Every config under configs/ loads through mmengine.Config and its model
builds; the budget tool reports the paper's budget for GLSMamba-B."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmpose.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p.split(osp.sep))


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {
        'stmamba_posetrack18.py', 'stmamba_posetrack18_h.py',
        'stmamba_posetrack17.py', 'stmamba_posetrack17_h.py',
        'stmamba_posetrack21.py', 'stmamba_posetrack21_h.py',
        'stmamba_jhmdb_sub1.py', 'stmamba_jhmdb_sub2.py',
        'stmamba_jhmdb_sub3.py'
    } <= names


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpose'
    assert 'mmpose_stmamba' in cfg.custom_imports['imports']
    for key in ('train_dataloader', 'optim_wrapper'):
        assert key in cfg, key
    if cfg.get('val_dataloader') is not None:
        assert 'val_evaluator' in cfg
    model_cfg = cfg.model.copy()
    for key in ('backbone', 'encoder_neck'):
        if model_cfg.get(key) is not None:
            model_cfg[key]['init_cfg'] = None  # no download here
    if 'huge' == model_cfg.backbone.get('arch'):
        # ViT-H is 630M parameters: build it with a shallow depth only
        model_cfg.backbone.arch = dict(
            embed_dims=1280, num_layers=1, num_heads=16,
            feedforward_channels=5120)
    model = MODELS.build(model_cfg)
    assert model.head.loss_module is not None


def test_paper_configs_follow_the_paper():
    cfg = Config.fromfile(osp.join(REPO, 'configs/stmamba_posetrack18.py'))
    assert cfg.model.neck.num_frames == 5
    assert cfg.val_dataloader.dataset.frame_offsets == (-2, -1, 0, 1, 2)
    assert cfg.codec.input_size == (192, 256)
    assert cfg.codec.heatmap_size == (48, 64) and cfg.codec.sigma == 3
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-4, 0.01)
    sched = cfg.param_scheduler[0]
    assert (sched.type, sched.milestones,
            sched.gamma) == ('MultiStepLR', [6, 12], 0.1)
    assert cfg.train_cfg.max_epochs == 20
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['mixer.A_log'].decay_mult == 0
    assert keys['mixer.D'].decay_mult == 0
    assert cfg.model.freeze_encoder
    for part in ('backbone', 'encoder_neck'):
        assert cfg.model[part].init_cfg.checkpoint.startswith(
            'https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
            'topdown_heatmap/coco/td-hm_ViTPose-base_8xb64-210e_coco-')
    h = Config.fromfile(osp.join(REPO, 'configs/stmamba_posetrack18_h.py'))
    assert h.model.backbone.arch == 'huge'
    assert h.model.encoder_neck.in_channels == 1280
    assert 'ViTPose-huge' in h.model.backbone.init_cfg.checkpoint


def test_weight_decay_groups():
    """A_log and D land in param groups without weight decay."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(REPO, 'configs/stmamba_posetrack18.py'))
    model = MODELS.build(
        dict(type='GLSMambaNeck', in_channels=8, embed_dims=8,
             num_gsm=1, num_lrm=1))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    assert decay['blocks.0.mixer.A_log'] == 0
    assert decay['blocks.1.mixer.D'] == 0
    assert decay['blocks.0.mixer.dt_bias'] == 0.01
    assert decay['blocks.0.in_proj.weight'] == 0.01


@pytest.mark.slow
def test_budget_of_glsmamba_b():
    """Paper: 9.8M trainable parameters, 138.9 GFLOPs (+-10%)."""
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/model_budget.py'),
         osp.join(REPO, 'configs/stmamba_posetrack18.py')],
        capture_output=True, text=True, check=True, cwd=REPO)
    budget = json.loads(out.stdout.strip().splitlines()[-1])
    assert abs(budget['trainable_params'] / 9.8e6 - 1) <= 0.1
    assert abs(budget['gflops'] / 138.9 - 1) <= 0.1
    assert budget['total_params'] > 85e6  # the frozen ViT-B is counted
