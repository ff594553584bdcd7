"""Tests of the channels-last depthwise convolution (``ops/dwconv_triton``).

Every case compares the output and the gradients of x, weight and bias
with ``F.conv3d(..., groups=C)`` on the (B, C, T, H, W) view.  Without
CUDA the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``, in a
subprocess, see ``_interpreter.py``) at small sizes; the CUDA tests run
fp32 and bf16 at the GSM block's channel count.
"""
import os

import pytest
import torch
import torch.nn.functional as F

from ._interpreter import (HAS_CUDA, HAS_TRITON, rel_max, run_cases,
                           run_interpreter_main)


def compare_conv(kernel, B=2, T=3, H=5, W=7, C=10, bias=True,
                 dtype=torch.float32, device='cpu', strided=False, seed=0):
    """{name: error} of depthwise_conv_cl against F.conv3d (fp32, on the
    same dtype-rounded inputs)."""
    from mmpose_stmamba.ops.dwconv_triton import depthwise_conv_cl
    gen = torch.Generator().manual_seed(seed)
    width = 2 * C if strided else C
    # strided: the first half of the channels of a wider tensor, like a
    # chunk of the block's input projection
    x = torch.randn(B, T, H, W, width, generator=gen)[..., :C]
    x = x.to(dtype).to(device)
    w = torch.randn(C, 1, *kernel, generator=gen).to(device)
    b = torch.randn(C, generator=gen).to(device) if bias else None
    grad = torch.randn(B, T, H, W, C, generator=gen).to(dtype).to(device)
    results = []
    for fused in (False, True):
        xi = x.detach().clone().requires_grad_()
        wi = w.detach().clone().requires_grad_()
        bi = b.detach().clone().requires_grad_() if bias else None
        if fused:
            out = depthwise_conv_cl(xi, wi, bi)
        else:
            out = F.conv3d(
                xi.float().permute(0, 4, 1, 2, 3), wi, bi,
                padding=tuple(k // 2 for k in kernel),
                groups=C).permute(0, 2, 3, 4, 1)
        out.backward(grad.float() if not fused else grad)
        results.append((out.detach().float(), xi.grad.float(), wi.grad,
                        bi.grad if bias else torch.zeros(1)))
    names = ('out', 'dx', 'dweight', 'dbias')
    return {n: rel_max(ours, ref) for n, ref, ours in zip(names, *results)}


def compare_gate(C=12, strided=True, seed=0, device='cpu'):
    """{name: error} of GateStream(conv_impl='triton') against 'torch' on
    the same parameters, fed a chunk of a wider tensor like the block."""
    from mmpose_stmamba.models.layers import GateStream
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 3, 5, 4, 2 * C if strided else C, generator=gen)
    z = z.to(device)[..., :C]
    results = []
    for impl in ('torch', 'triton'):
        torch.manual_seed(seed)
        gate = GateStream(C, 3, conv_impl=impl).to(device)
        zi = z.detach().clone().requires_grad_()
        out = gate(zi)
        out.square().sum().backward()
        results.append((out.detach(), zi.grad, gate.dwconv.weight.grad,
                        gate.dwconv.bias.grad))
    names = ('out', 'dz', 'dweight', 'dbias')
    return {n: rel_max(ours, ref) for n, ref, ours in zip(names, *results)}


# (label, function, kwargs): the STMM temporal (3x3x3) and spatial (1x3x3)
# offset convolutions, the gate's 2-D 3x3, a 5x5 without bias; pixel
# blocks smaller than the frame, channel blocks larger than C, strided
# input; the gate stream with either implementation.
INTERPRETER_CASES = [
    ('3x3x3', compare_conv, dict(kernel=(3, 3, 3))),
    ('1x3x3 strided', compare_conv,
     dict(kernel=(1, 3, 3), strided=True, seed=1)),
    ('1x5x5 no bias', compare_conv,
     dict(kernel=(1, 5, 5), bias=False, C=3, seed=2)),
    ('3x1x1 one frame', compare_conv, dict(kernel=(3, 1, 1), T=1, seed=3)),
    ('gate stream', compare_gate, {}),
]


def _interpreter_main():
    """Runs in a subprocess with TRITON_INTERPRET=1; prints the errors."""
    from mmpose_stmamba.ops import dwconv_triton
    dwconv_triton.CFG.update(BLOCK_P=16, BLOCK_C=8)
    run_cases(INTERPRETER_CASES)


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_interpreter_matches_conv3d():
    worst = run_interpreter_main('test_dwconv_triton', timeout=600)
    assert worst < 1e-5


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_gate_impls_on_cpu():
    from mmpose_stmamba.models.layers import GateStream
    with pytest.raises(ValueError, match='impl must be'):
        GateStream(8, conv_impl='cudnn')
    # 'auto' on CPU is the module path, exactly
    z = torch.randn(1, 2, 3, 4, 8)
    torch.manual_seed(0)
    ref = GateStream(8, conv_impl='torch')
    torch.manual_seed(0)
    auto = GateStream(8, conv_impl='auto')
    assert torch.equal(ref(z), auto(z))


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_bad_arguments_raise():
    from mmpose_stmamba.ops.dwconv_triton import depthwise_conv_cl
    x = torch.zeros(1, 2, 3, 4, 6)
    with pytest.raises(ValueError, match='odd'):
        depthwise_conv_cl(x, torch.zeros(6, 1, 1, 2, 2))
    with pytest.raises(ValueError, match='weight must be'):
        depthwise_conv_cl(x, torch.zeros(5, 1, 1, 3, 3))
    with pytest.raises(ValueError, match='bias'):
        depthwise_conv_cl(x, torch.zeros(6, 1, 1, 3, 3), torch.zeros(5))
    with pytest.raises(ValueError, match='x must be'):
        depthwise_conv_cl(x[0], torch.zeros(6, 1, 1, 3, 3))


@pytest.mark.skipif(os.environ.get('TRITON_INTERPRET') == '1' or HAS_CUDA
                    or not HAS_TRITON,
                    reason='checks the CPU refusal outside the interpreter')
def test_cpu_tensor_raises():
    from mmpose_stmamba.ops.dwconv_triton import depthwise_conv_cl
    with pytest.raises(RuntimeError, match='not a CUDA device'):
        depthwise_conv_cl(torch.zeros(1, 2, 3, 4, 6),
                          torch.zeros(6, 1, 1, 3, 3))


gpu = pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON),
                         reason='needs a CUDA device and triton')


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize('kernel', [(3, 3, 3), (1, 3, 3)])
def test_gpu_matches_conv3d(kernel, dtype, tol):
    # the fp32 reference in fp32: cuDNN's TF32 off
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        errs = compare_conv(kernel, B=2, T=5, H=33, W=17, C=192,
                            dtype=dtype, device='cuda')
        assert max(errs.values()) < tol, errs
        errs = compare_conv(kernel, B=1, T=5, H=16, W=12, C=96,
                            dtype=dtype, device='cuda', strided=True,
                            seed=4)
    assert max(errs.values()) < tol, errs


@pytest.mark.gpu
@gpu
def test_gpu_gate_stream():
    errs = compare_gate(C=192, device='cuda')
    assert max(errs.values()) < 1e-5, errs
