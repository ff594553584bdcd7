"""Every selective-scan backend against an independent float64 reference.

Tolerances: float32 inputs must match to 1e-5 relative, measured against
the largest magnitude of the reference tensor (``_close``); bfloat16
inputs (A, D, delta_bias stay float32 as in the model) to 2e-2 of that
magnitude, i.e. a few bf16 ulps (2**-8 = 3.9e-3): the backends accumulate
in float32, so only the final roundings to bf16 differ.
"""
import itertools
import math

import pytest
import torch

from mmpose_stmamba.ops import (available_backends, resolve_backend,
                                selective_scan, selective_scan_flops,
                                selective_scan_torch)
from mmpose_stmamba.ops.scan_mamba_ssm import mamba_ssm_unavailable_reason
from ._reference import scan_reference

NAMES = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')
HAS_CUDA = torch.cuda.is_available()


def make_inputs(batch, dim, length, state, groups=None, with_D=True,
                with_z=True, with_bias=True, dtype=torch.float32,
                device='cpu', delta_scale=0.5, seed=0):
    """Random inputs; B/C grouped when ``groups`` is given."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale)

    bc_shape = (batch, state, length) if groups is None else (
        batch, groups, state, length)
    inputs = dict(
        u=rnd(batch, dim, length).to(dtype),
        delta=rnd(batch, dim, length, scale=delta_scale).to(dtype),
        # Mamba's parametrisation: A = -exp(A_log) < 0, float32.
        A=-torch.rand(dim, state, generator=g) * 2 - 0.05,
        B=rnd(*bc_shape).to(dtype),
        C=rnd(*bc_shape).to(dtype),
        D=rnd(dim) if with_D else None,
        z=rnd(batch, dim, length).to(dtype) if with_z else None,
        delta_bias=rnd(dim, scale=0.3) if with_bias else None)
    return {
        k: (v.to(device).requires_grad_() if v is not None else None)
        for k, v in inputs.items()
    }


def run_and_grad(fn, inputs, softplus, seed=1, last_state_grad=True,
                 **kwargs):
    """Output, last state and the gradients of every given input."""
    y, last = fn(**inputs, delta_softplus=softplus, return_last_state=True,
                 **kwargs)
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(y.shape, generator=g).to(y.device)
    gl = torch.randn(last.shape, generator=g).to(y.device)
    loss = (y.double() * gy).sum()
    if last_state_grad:
        loss = loss + (last.double() * gl).sum()
    used = [n for n in NAMES if inputs[n] is not None]
    grads = torch.autograd.grad(loss, [inputs[n] for n in used])
    return y, last, dict(zip(used, grads))


def reference_and_grad(inputs, softplus, last_state_grad=True):
    def fn(delta_softplus, return_last_state, **kw):
        return scan_reference(**kw, delta_softplus=delta_softplus)

    return run_and_grad(fn, inputs, softplus, last_state_grad=last_state_grad)


def _close(actual, expected, rel, what):
    expected = expected.double()
    scale = expected.abs().max().item() or 1.0
    err = (actual.double() - expected).abs().max().item()
    assert math.isfinite(err) and err <= rel * scale, \
        f'{what}: max error {err:.3e} > {rel:g} * {scale:.3e}'


def assert_matches(inputs, softplus, rel, fn, last_state_grad=True,
                   **kwargs):
    y, last, grads = run_and_grad(fn, inputs, softplus,
                                  last_state_grad=last_state_grad, **kwargs)
    ry, rlast, rgrads = reference_and_grad(inputs, softplus,
                                           last_state_grad)
    assert y.dtype == inputs['u'].dtype
    _close(y, ry, rel, 'output')
    _close(last, rlast, rel, 'last state')
    for name, grad in rgrads.items():
        assert grads[name].dtype == inputs[name].dtype, name
        _close(grads[name], grad, rel, f'grad {name}')


# (batch, dim, L, N, groups): L not a multiple of the chunk sizes used
# below, N from 1 to 16, grouped and shared B/C.
SHAPES = [(1, 4, 37, 1, None), (2, 6, 50, 4, 3), (1, 8, 129, 16, 2),
          (2, 3, 17, 5, None), (1, 4, 1, 3, None)]
OPTIONS = list(itertools.product((True, False), repeat=4))
CPU_BACKENDS = [b for b in available_backends('cpu')]


@pytest.mark.parametrize('backend', CPU_BACKENDS)
@pytest.mark.parametrize('case', range(len(SHAPES)))
def test_backend_matches_reference_fp32(backend, case):
    batch, dim, length, state, groups = SHAPES[case]
    # Walk through the D/z/bias/softplus combinations across the shapes.
    for with_D, with_z, with_bias, softplus in OPTIONS[case::len(SHAPES)]:
        inputs = make_inputs(batch, dim, length, state, groups, with_D,
                             with_z, with_bias, seed=case)
        assert_matches(inputs, softplus, 1e-5, selective_scan,
                       backend=backend)


@pytest.mark.parametrize('chunk_size,block_chunks', [(1, 1), (4, 3),
                                                     (7, 2), (16, 64)])
def test_torch_tiling_matches_reference(chunk_size, block_chunks):
    """Many chunks and blocks, partial last chunk and last block."""
    inputs = make_inputs(2, 6, 61, 16, 3, seed=chunk_size)
    assert_matches(inputs, True, 1e-5, selective_scan_torch,
                   chunk_size=chunk_size, block_chunks=block_chunks)


def test_torch_float64_is_exact():
    inputs = make_inputs(1, 4, 45, 8, 2, dtype=torch.float64, seed=3)
    inputs['A'] = inputs['A'].detach().double().requires_grad_()
    assert_matches(inputs, True, 1e-12, selective_scan_torch,
                   chunk_size=5, block_chunks=2)


@pytest.mark.parametrize('backend', CPU_BACKENDS)
def test_bf16_inputs(backend):
    inputs = make_inputs(2, 8, 40, 16, 2, dtype=torch.bfloat16, seed=4)
    assert_matches(inputs, True, 2e-2, selective_scan, backend=backend)


@pytest.mark.parametrize('backend', CPU_BACKENDS)
def test_large_delta_is_stable(backend):
    """delta * |A| up to 1e4: decays underflow to 0, nothing overflows."""
    inputs = make_inputs(1, 4, 33, 4, None, with_bias=False, seed=5)
    with torch.no_grad():
        inputs['delta'].copy_(
            torch.logspace(-3, 3, 33).expand(1, 4, 33))
        inputs['A'].copy_(-torch.logspace(-1, 1, 16).view(4, 4))
    ratio = (inputs['delta'].max() * inputs['A'].abs().max()).item()
    assert ratio >= 1e4
    y, last, grads = run_and_grad(selective_scan, inputs, False,
                                  backend=backend)
    assert torch.isfinite(y).all() and torch.isfinite(last).all()
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name
    assert_matches(inputs, False, 1e-5, selective_scan, backend=backend)


def test_torch_backend_ignores_autocast():
    """fp32 inputs stay fp32-exact inside a bf16 autocast region."""
    inputs = make_inputs(1, 8, 40, 16, 2, seed=9)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert_matches(inputs, True, 1e-5, selective_scan, backend='torch')


def test_backward_keeps_no_state_sized_tensor():
    """The torch backend saves inputs and block states, not (B,D,L,N)."""
    inputs = make_inputs(1, 16, 512, 16, None, seed=6)
    y = selective_scan_torch(**inputs, delta_softplus=True)
    sizes = [t.numel() for t in y.grad_fn.saved_tensors if t is not None]
    assert max(sizes) <= 16 * 512  # nothing bigger than an input
    assert sum(sizes) < 16 * 512 * 16 // 2


def test_dispatch_and_errors(monkeypatch):
    monkeypatch.delenv('STMAMBA_SCAN_BACKEND', raising=False)
    assert {'ref', 'torch'} <= set(available_backends('cpu'))
    assert 'mamba_ssm' not in available_backends('cpu')
    assert resolve_backend('auto', 'cpu') == 'torch'
    monkeypatch.setenv('STMAMBA_SCAN_BACKEND', 'ref')
    assert resolve_backend('auto', 'cpu') == 'ref'
    assert resolve_backend('torch', 'cpu') == 'torch'  # explicit wins
    monkeypatch.setenv('STMAMBA_SCAN_BACKEND', 'bogus')
    with pytest.raises(ValueError, match='STMAMBA_SCAN_BACKEND'):
        resolve_backend('auto', 'cpu')
    monkeypatch.delenv('STMAMBA_SCAN_BACKEND')
    with pytest.raises(ValueError, match='backend=.cuda_magic'):
        resolve_backend('cuda_magic', 'cpu')
    with pytest.raises(RuntimeError, match='pip install -e'):
        resolve_backend('mamba_ssm', 'cpu')

    inputs = {k: (v.detach() if v is not None else None)
              for k, v in make_inputs(1, 4, 8, 2).items()}
    for name, bad in (('delta', inputs['delta'][..., :7]),
                      ('A', inputs['A'][:3]), ('B', inputs['B'][..., :7]),
                      ('D', inputs['D'][:3]), ('z', inputs['z'][:, :3])):
        with pytest.raises(ValueError, match=f'^{name} must'):
            selective_scan(**{**inputs, name: bad})
    with pytest.raises(ValueError, match='^C must'):  # 3 groups, 4 channels
        selective_scan(**{**inputs, 'C': torch.randn(1, 3, 2, 8)})


def test_flops():
    assert selective_scan_flops(2, 3, 5, 7, with_D=False) == 9 * 210
    assert selective_scan_flops(2, 3, 5, 7, True, True) == 9 * 210 + 60


@pytest.mark.skipif(not HAS_CUDA, reason='needs a CUDA device')
def test_torch_backend_on_cuda():
    inputs = make_inputs(2, 8, 100, 16, 2, device='cuda', seed=7)
    assert_matches(inputs, True, 1e-5, selective_scan, backend='torch')


@pytest.mark.skipif(not HAS_CUDA, reason='needs a CUDA device')
@pytest.mark.skipif(
    HAS_CUDA and mamba_ssm_unavailable_reason() is not None,
    reason='mamba-ssm is not importable (pip install -e .[cuda])')
@pytest.mark.parametrize('dtype,rel', [(torch.float32, 1e-4),
                                       (torch.bfloat16, 2e-2)])
def test_mamba_ssm_backend(dtype, rel):
    assert resolve_backend('auto', 'cuda') == 'mamba_ssm'
    for groups in (None, 2):
        inputs = make_inputs(2, 8, 300, 16, groups, dtype=dtype,
                             device='cuda', seed=8)
        # mamba-ssm does not backpropagate through the last state (its
        # backward ignores that gradient), so the adapter detaches it:
        # compare its value, and the gradients of the output alone.
        assert_matches(inputs, True, rel, selective_scan,
                       last_state_grad=False, backend='mamba_ssm')
        _, last = selective_scan(**inputs, delta_softplus=True,
                                 return_last_state=True, backend='mamba_ssm')
        assert not last.requires_grad
