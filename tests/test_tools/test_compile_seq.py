"""tools/gpu/compile_seq.py: the fused scan compiled for sm_90 on the CPU.

ptxas and cuobjdump come with Triton's wheel, so this needs no GPU; it
skips where Triton (or its bundled tools) is missing.  Triton's
interpreter, which the other CPU tests use, runs the kernels as Python and
accepts code the compiler rejects (a variable bound in a branch that the
compiler does not resolve at compile time, say), so compiling the
launches the package uses is the CPU's only check that they build.
"""
import os.path as osp

import pytest
from tool_loader import load_tool

pytest.importorskip('triton')
pytestmark = pytest.mark.skipif(
    not osp.exists(osp.join(load_tool('gpu/compile_seq.py').tools_dir(),
                            'cuobjdump')),
    reason="Triton's bundled cuobjdump is missing")


def _seq():
    from mmpose_stmamba.ops import scan_triton_seq as seq
    return seq


# The default, the same with one program per pair, the half-width launch.
FORWARDS = {'default': {}, 'pairs': dict(SPLIT=False),
            'half-width': dict(BLOCK_D=16, CHUNK=2, PREFETCH=True,
                               SPLIT=False)}


@pytest.mark.parametrize('name', list(FORWARDS))
def test_forward_launches_compile(name):
    seq, cs = _seq(), load_tool('gpu/compile_seq.py')
    cfg = dict(seq.SEQ_FWD_CFG, **FORWARDS[name])
    every = seq.SEQ_BWD_CFG['CHUNK'] * seq.SEQ_BWD_CFG['SEG']
    rep = cs.forward_report(seq, cfg, 16, every, 90)
    # Per state and step one exp, for each of the CHUNK steps the loop
    # unrolls (and each direction a program walks), at least once in the
    # binary; 16 states over 32 * num_warps / BLOCK_D lanes per channel.
    lanes = 32 * cfg.get('num_warps', 1) // cfg['BLOCK_D']
    dirs = 1 if cfg.get('SPLIT') else 2
    assert rep['MUFU.EX2'] >= dirs * cfg['CHUNK'] * 16 // lanes
    assert 0 < rep['regs'] <= 255
    assert rep['LDG'] > 0 and rep['STG'] > 0


def test_backward_launch_compiles_with_two_exps_per_state():
    seq, cs = _seq(), load_tool('gpu/compile_seq.py')
    cfg = seq.SEQ_BWD_CFG
    rep = cs.backward_report(seq, cfg, 16, 90)
    # The replay's and the recompute's exp2(dt A) per state and step; the
    # adjoint carry reuses the recompute's (docs/benchmark.md, run 18).
    per_chunk = 2 * cfg['CHUNK'] * 16 * cfg['BLOCK_D'] // 32
    assert per_chunk <= rep['MUFU.EX2'] < per_chunk * 3 // 2 + 16
    assert rep['regs'] <= cfg.get('maxnreg', 255)
    assert rep['ATOM'] > 0


def test_parts_carry_launch_compiles():
    seq, cs = _seq(), load_tool('gpu/compile_seq.py')
    rep = cs.carry_report(seq, seq.SEQ_BWD_CFG, 16, 90)
    # one exp per state and step: g's decay (no states are recomputed)
    assert rep['MUFU.EX2'] >= seq.SEQ_BWD_CFG['CHUNK'] * 16
    assert rep['STG'] > 0 and rep['ATOM'] == 0
