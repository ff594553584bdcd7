"""ViTPose encoder: deconv stage shapes and loading MMPose checkpoints."""
import os.path as osp

import mmpose
import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
VITPOSE_B = osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
    'topdown_heatmap', 'coco', 'td-hm_ViTPose-base_8xb64-210e_coco-256x192.py')


def test_deconv_shapes_and_layout():
    neck = MODELS.build(dict(type='ViTPoseDeconvNeck', in_channels=12,
                             out_channels=(8, 8), kernel_sizes=(4, 4)))
    out, = neck((torch.randn(2, 12, 16, 12), ))
    assert out.shape == (2, 8, 64, 48)
    assert (out >= 0).all()  # BN + ReLU last
    keys = set(neck.state_dict())
    assert {'deconv_layers.0.weight', 'deconv_layers.1.running_mean',
            'deconv_layers.3.weight', 'deconv_layers.4.bias'} <= keys
    assert 'deconv_layers.0.bias' not in keys
    with pytest.raises(ValueError, match='kernel_sizes'):
        MODELS.build(dict(type='ViTPoseDeconvNeck', in_channels=4,
                          kernel_sizes=(5, 5)))


def test_loads_mmpose_vitpose_checkpoint(tmp_path):
    """A randomly initialised MMPose ViTPose-B TopdownPoseEstimator, saved
    in MMPose's layout, loads into our frozen encoder via init_cfg."""
    torch.manual_seed(0)
    src_cfg = Config.fromfile(VITPOSE_B).model
    src_cfg.backbone.init_cfg = None
    src = MODELS.build(src_cfg)
    state = src.state_dict()
    for key, value in state.items():  # BN statistics must travel too
        if 'running' in key:
            value.uniform_(0.5, 1.5)
    ckpt = str(tmp_path / 'vitpose_b.pth')
    torch.save(dict(state_dict=state, meta=dict()), ckpt)

    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/models/glsmamba_vitpose-b.py')).model
    cfg.backbone.init_cfg.checkpoint = ckpt
    cfg.encoder_neck.init_cfg.checkpoint = ckpt
    cfg.neck.num_gsm, cfg.neck.num_lrm = 1, 0
    model = MODELS.build(cfg)
    model.init_weights()
    ours = model.state_dict()
    mapped = 0
    for key, value in state.items():
        if key.startswith('backbone.'):
            target = key
        elif key.startswith('head.deconv_layers.'):
            target = 'encoder_neck.' + key[len('head.'):]
        else:
            assert key.startswith('head.final_layer.')
            continue
        assert torch.equal(ours[target], value), key
        mapped += 1
    encoder_keys = [k for k in ours
                    if k.startswith(('backbone.', 'encoder_neck.'))]
    assert mapped == len(encoder_keys)
