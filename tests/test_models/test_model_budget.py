"""tools/analysis/model_budget.py: analytic parts and what the trace keeps."""

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmpose.registry import MODELS
from tool_loader import load_tool

from mmpose_stmamba.ops import selective_scan_flops

model_budget = load_tool('analysis/model_budget.py')


def test_gsm_block_count():
    T, H, W, D, N, R, K = 2, 8, 6, 16, 8, 2, 6
    L = T * H * W
    block = MODELS.build(
        dict(type='GSMBlock', channels=D, num_frames=T, d_state=N,
             dt_rank=R, stmm_cfg=dict(groups=2))).eval()
    counter = model_budget._count_analytically(block)
    analyzer = FlopAnalyzer(block, (torch.zeros(1, T, H, W, D), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    # the scan's analytic count: six orders
    scans = K * selective_scan_flops(1, D, L, N, with_D=True)
    # sampling: 9 spatial + 3 temporal points, 6 MACs per element
    sampling = (9 + 3) * 6 * D * L
    assert counter[0] == scans + sampling
    # the projections feeding the scan stay in the trace (Delta, B, C)
    # (the einsum handle rounds numpy's einsum_path estimate slightly)
    assert by_module['mixer'] == pytest.approx(
        L * K * D * (R + 2 * N) + L * K * R * D, rel=1e-3)
    # and so do the offset/mask heads of both modulators
    spatial = by_module['merge.modulators.1']
    expected = (9 * D + D * 2 * 9 * 3 + D * D) * L
    assert spatial == pytest.approx(expected, rel=1e-3)
