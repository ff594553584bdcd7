"""Tests of the fused LayerNorm -> SiLU -> product (``ops/gate_triton``).

Every case compares the output and the gradients of y, c, weight and bias
with ``y * silu(layer_norm(c))`` in float64 through autograd, on the same
dtype-rounded inputs.  Without CUDA the kernels run in Triton's
interpreter (``TRITON_INTERPRET=1``, in a subprocess, see
``_interpreter.py``) at small sizes; the CUDA tests run the GSM block's
channel count in fp32 and under bf16 autocast.
"""
import os

import pytest
import torch
import torch.nn.functional as F

from ._interpreter import (HAS_CUDA, HAS_TRITON, rel_max, run_cases,
                           run_interpreter_main)


def _inputs(shape, dtype, device, y_layout, gen):
    C = shape[-1]
    c = torch.randn(*shape, generator=gen).to(dtype)
    if y_layout == 'contiguous':
        y = torch.randn(*shape, generator=gen)
    elif y_layout == 'channels_first':
        # (B, C, T, H, W) memory seen as (B, T, H, W, C), what the merge
        # hands the gate where it is not channels-last: copied to rows
        y = torch.randn(shape[0], C, *shape[1:-1],
                        generator=gen).movedim(1, -1)
    else:  # 'sliced': every other channel row of a wider tensor
        y = torch.randn(*shape[:-1], 2 * C, generator=gen)[..., :C]
    w = 1 + 0.5 * torch.randn(C, generator=gen)
    b = 0.5 * torch.randn(C, generator=gen)
    g = torch.randn(*shape, generator=gen)
    return [t.to(device) for t in (y.to(dtype), c, w, b, g.to(dtype))]


def compare_gated(shape=(2, 3, 5, 12), dtype=torch.float32, device='cpu',
                  y_layout='contiguous', autocast=False, eps=1e-5, seed=0):
    """{name: error} of gated_norm_silu against the float64 composition."""
    from mmpose_stmamba.ops.gate_triton import gated_norm_silu
    gen = torch.Generator().manual_seed(seed)
    y, c, w, b, g = _inputs(shape, dtype, device, y_layout, gen)
    leaves = [t.detach().clone().requires_grad_() for t in (y, c, w, b)]
    with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
        out = gated_norm_silu(*leaves, eps=eps)
    want = torch.bfloat16 if autocast else dtype
    if out.dtype != want or out.shape != c.shape:
        return {'dtype or shape': float('inf')}
    out.backward(g.to(out.dtype))
    refs = [t.detach().double().requires_grad_() for t in (y, c, w, b)]
    ref = refs[0] * F.silu(F.layer_norm(refs[1], (shape[-1], ), refs[2],
                                        refs[3], eps))
    ref.backward(g.double())
    errs = {'out': rel_max(out, ref)}
    for name, ours, theirs in zip(('dy', 'dc', 'dweight', 'dbias'), leaves,
                                  refs):
        errs[name] = rel_max(ours.grad, theirs.grad)
    return errs


def compare_gate_stream(C=12, seed=0, device='cpu'):
    """{name: error} of GateStream.gated with norm_impl 'triton' against
    'torch' on the same parameters."""
    from mmpose_stmamba.models.layers import GateStream
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 3, 5, 4, C, generator=gen).to(device)
    y = torch.randn(2, 3, 5, 4, C, generator=gen).to(device)
    results = []
    for impl in ('torch', 'triton'):
        torch.manual_seed(seed)
        gate = GateStream(C, 3, conv_impl='torch', norm_impl=impl).to(device)
        zi, yi = (t.detach().clone().requires_grad_() for t in (z, y))
        out = gate.gated(yi, zi)
        out.square().sum().backward()
        results.append((out.detach(), yi.grad, zi.grad,
                        gate.norm.weight.grad, gate.norm.bias.grad,
                        gate.dwconv.weight.grad))
    names = ('out', 'dy', 'dz', 'dnorm_w', 'dnorm_b', 'dconv_w')
    return {n: rel_max(ours, ref) for n, ref, ours in zip(names, *results)}


# (label, function, kwargs): C 12 padded to 16 lanes, a token count that
# is not a multiple of the tile's, y from a channels-first or a sliced
# tensor, several token blocks per backward program (BWD_PROGRAMS is 3
# in the interpreter), bf16 under autocast, one channel.
INTERPRETER_CASES = [
    ('C 12', compare_gated, {}),
    ('y channels-first', compare_gated,
     dict(shape=(2, 2, 3, 4, 10), y_layout='channels_first', seed=1)),
    ('y sliced, eps 1e-3', compare_gated,
     dict(shape=(7, 24), y_layout='sliced', eps=1e-3, seed=2)),
    ('C 1', compare_gated, dict(shape=(5, 1), seed=3)),
    ('gate stream', compare_gate_stream, {}),
]


def _interpreter_main():
    """Runs in a subprocess with TRITON_INTERPRET=1; prints the errors."""
    from mmpose_stmamba.ops import gate_triton
    gate_triton.FWD_TILE = gate_triton.BWD_TILE = 64
    gate_triton.BWD_PROGRAMS = 3
    errs = compare_gated(dtype=torch.bfloat16, autocast=True, seed=4)
    # bf16 output and gradients: the reference sees the same rounded
    # inputs, what is left is the rounding of the results (< 1e-2 passes)
    print('bf16 autocast', errs)
    bf16 = 0. if max(errs.values()) < 1e-2 else float('inf')
    run_cases(INTERPRETER_CASES + [('bf16 within 1e-2', lambda: {
        'pass': bf16}, {})])


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_interpreter_matches_composition():
    worst = run_interpreter_main('test_gate_triton', timeout=600)
    assert worst < 1e-5


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_bad_arguments_raise():
    from mmpose_stmamba.ops.gate_triton import gated_norm_silu
    c = torch.zeros(2, 6)
    with pytest.raises(ValueError, match='one shape'):
        gated_norm_silu(torch.zeros(2, 5), c, torch.ones(6), torch.zeros(6))
    with pytest.raises(ValueError, match='weight must be'):
        gated_norm_silu(c, c, torch.ones(5), torch.zeros(6))
    with pytest.raises(ValueError, match='bias must be'):
        gated_norm_silu(c, c, torch.ones(6), None)


@pytest.mark.skipif(os.environ.get('TRITON_INTERPRET') == '1' or HAS_CUDA
                    or not HAS_TRITON,
                    reason='checks the CPU refusal outside the interpreter')
def test_cpu_tensor_raises():
    from mmpose_stmamba.ops.gate_triton import gated_norm_silu
    c = torch.zeros(2, 6)
    with pytest.raises(RuntimeError, match='not a CUDA device'):
        gated_norm_silu(c, c, torch.ones(6), torch.zeros(6))


def test_gate_norm_impls_on_cpu():
    from mmpose_stmamba.models.layers import GateStream
    with pytest.raises(ValueError, match='impl must be'):
        GateStream(8, norm_impl='apex')
    # 'auto' on CPU is the module path, exactly
    y, z = torch.randn(2, 1, 2, 3, 4, 8)
    torch.manual_seed(0)
    ref = GateStream(8, norm_impl='torch')
    torch.manual_seed(0)
    auto = GateStream(8, norm_impl='auto')
    assert torch.equal(ref.gated(y, z), auto.gated(y, z))
    assert torch.equal(ref.gated(y, z), y * ref(z))


gpu = pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON),
                         reason='needs a CUDA device and triton')


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('y_layout', ['contiguous', 'channels_first'])
def test_gpu_fp32_matches_composition(y_layout):
    errs = compare_gated((2, 5, 16, 12, 192), device='cuda',
                         y_layout=y_layout)
    assert max(errs.values()) < 1e-5, errs


@pytest.mark.gpu
@gpu
def test_gpu_bf16_autocast_matches_composition():
    errs = compare_gated((2, 5, 16, 12, 192), dtype=torch.bfloat16,
                         device='cuda', autocast=True)
    assert max(errs.values()) < 1e-2, errs


@pytest.mark.gpu
@gpu
def test_gpu_gate_stream():
    errs = compare_gate_stream(C=192, device='cuda')
    assert max(errs.values()) < 1e-5, errs
