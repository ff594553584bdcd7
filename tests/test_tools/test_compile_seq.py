"""tools/gpu/compile_seq.py: the fused scan compiled for sm_90 on the CPU.

ptxas and cuobjdump come with Triton's wheel, so this needs no GPU; it
skips where Triton (or its bundled tools) is missing.
"""
import os.path as osp

import pytest
from tool_loader import load_tool

triton = pytest.importorskip('triton')
TOOLS = osp.join(osp.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
pytestmark = pytest.mark.skipif(
    not osp.exists(osp.join(TOOLS, 'cuobjdump')),
    reason="Triton's bundled cuobjdump is missing")


def test_forward_report_counts_the_kernels_exps():
    from mmpose_stmamba.ops import scan_triton_seq as seq
    cs = load_tool('gpu/compile_seq.py')
    cfg = dict(BLOCK_D=16, CHUNK=2, num_warps=1, SPLIT=True)
    rep = cs.forward_report(seq, cfg, 4, 64, 90)
    # One order per program: CHUNK steps x N/2 states per thread (two
    # lanes per channel at BLOCK_D 16) exps in the loop, and softplus's one
    # exp per step, at least once each in the binary.
    assert rep['MUFU.EX2'] >= 2 * 2 + 2
    assert 0 < rep['regs'] <= 255
    assert rep['LDG'] > 0 and rep['STG'] > 0
