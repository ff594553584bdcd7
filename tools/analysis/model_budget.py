"""Print a model's parameter and FLOP budget as one JSON line.

Usage::

    python tools/analysis/model_budget.py CONFIG [--frames T]
        [--cfg-options KEY=VALUE ...]

Output keys: ``trainable_params``, ``total_params``, ``gflops`` (one clip,
the encoder on all T frames included), plus ``frames``, ``input_size``
(h, w), ``neck_head_gflops`` and ``analytic_gflops`` (the part counted by
formula).

Convention (the one of MMPose's ``get_flops`` / fvcore / ViTPose's
"17.1 GFLOPs"): a multiply-accumulate counts as one FLOP.  Standard
layers are counted by MMEngine's ``FlopAnalyzer`` (a JIT trace, fvcore
handles; the attention product of PyTorch's fused SDPA is added here as
QK^T + AV MACs).  Two parts are counted analytically because a tracer
cannot see inside them:

* the selective scans: ``ops.selective_scan_flops`` per order
  (9 * L * Dm * N + L * Dm for the D skip, VMamba's formula);
* the deformable sampling of STMM: 6 MACs per output element and point
  (a bilinear sample of 4 taps, the mask and the depthwise weight).

During the count those two modules return zeros of the right shape, tied
to their inputs so that the layers feeding them stay in the traced graph;
the trace neither runs the CPU scan nor counts its internals twice.  A
Delta handed to the scan as low-rank factors (``ops.LowRankDelta``) is
expanded by the stand-in, in the trace.
"""
import argparse
import json
from functools import reduce
from operator import mul

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


def sdpa_flop_jit(inputs, outputs):
    """MACs of ``aten::scaled_dot_product_attention``: QK^T and AV."""
    q_shape = inputs[0].type().sizes()
    k_shape = inputs[1].type().sizes()
    *batch, lq, d = q_shape
    lk = k_shape[-2]
    return 2 * reduce(mul, batch, 1) * lq * lk * d


class _Forward(nn.Module):
    """Calls the estimator's tensor-mode forward (what the tracer sees)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model._forward(inputs)


def _count_analytically(model):
    """Replace the forward of scan and sampling modules by a stand-in that
    adds the module's analytic FLOPs to a counter and returns zeros."""
    from mmpose_stmamba.models.layers import (ModulatedDeformSampler,
                                              MultiOrderScan)
    from mmpose_stmamba.ops import LowRankDelta
    counter = [0]
    for module in model.modules():
        if isinstance(module, (MultiOrderScan, ModulatedDeformSampler)):

            def stand_in(*args, _m=module):
                # a low-rank Delta is expanded here, so that its projection
                # is traced like any layer
                args = [a.expand() if isinstance(a, LowRankDelta) else a
                        for a in args]
                counter[0] += int(_m.flops(*args))
                # keep every input alive in the traced graph: an output
                # that ignored them would let the tracer drop the layers
                # that compute them (the Delta/B/C and offset projections)
                anchor = sum(a.sum() for a in args
                             if isinstance(a, torch.Tensor))
                return _m.output_like(*args) + 0 * anchor

            module.forward = stand_in
    return counter


def build_model(cfg):
    """Build the config's model without loading pretrained weights."""
    from mmpose.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model_cfg = cfg.model.copy()
    for key in ('backbone', 'encoder_neck', 'neck', 'head'):
        if model_cfg.get(key) is not None:
            model_cfg[key]['init_cfg'] = None
    return MODELS.build(model_cfg)


def clip_shape(cfg, frames=None):
    """(T, h, w) of one clip from the config."""
    neck = cfg.model.get('neck') or {}
    T = frames or neck.get('num_frames', 5)
    w, h = cfg.codec['input_size'] if 'codec' in cfg else (192, 256)
    return T, h, w


def budget(cfg, frames=None):
    """Parameter and FLOP budget of a config's model (dict)."""
    model = build_model(cfg).eval()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    T, h, w = clip_shape(cfg, frames)
    counter = _count_analytically(model)
    analyzer = FlopAnalyzer(_Forward(model), (torch.zeros(1, T, 3, h, w), ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention',
                           sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    traced = analyzer.total()
    by_module = analyzer.by_module()
    encoder = by_module.get('model.backbone', 0) + by_module.get(
        'model.encoder_neck', 0)
    flops = traced + counter[0]
    return dict(
        trainable_params=trainable,
        total_params=total,
        gflops=round(flops / 1e9, 2),
        neck_head_gflops=round((flops - encoder) / 1e9, 2),
        analytic_gflops=round(counter[0] / 1e9, 2),
        frames=T,
        input_size=[h, w])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--frames', type=int, default=None,
                        help='clip length (default: the neck num_frames)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with torch.no_grad():
        print(json.dumps(budget(cfg, args.frames)))


if __name__ == '__main__':
    main()
