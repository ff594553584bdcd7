"""multi_order_scan against a per-order loop of the float64 reference."""
import pytest
import torch

from mmpose_stmamba.ops import LowRankDelta, get_orders, multi_order_scan
from mmpose_stmamba.ops import multi_scan as multi_scan_module
from ._reference import multi_order_reference
from .test_selective_scan import _close

HAS_CUDA = torch.cuda.is_available()


def make_inputs(K, batch=2, dim=3, grid=(2, 3, 4), state=4, seed=0,
                device='cpu'):
    g = torch.Generator().manual_seed(seed)
    length = grid[0] * grid[1] * grid[2]
    t = dict(
        u=torch.randn(batch, dim, length, generator=g),
        delta=torch.randn(batch, K, dim, length, generator=g) * 0.5,
        A=-torch.rand(K * dim, state, generator=g) - 0.1,
        B=torch.randn(batch, K, state, length, generator=g),
        C=torch.randn(batch, K, state, length, generator=g),
        D=torch.randn(K * dim, generator=g),
        delta_bias=torch.randn(K * dim, generator=g) * 0.3)
    return {k: v.to(device).requires_grad_() for k, v in t.items()}


@pytest.mark.parametrize('backend', ['torch', 'ref'])
@pytest.mark.parametrize('orders,window,layout', [
    ('sts6d', (8, 6), 'wide_rows'),
    ('sts6d', (8, 6), 'tall_cols'),
    ('wsts', (2, 3), 'wide_rows'),
    (('temporal', 'window', 'temporal_rev', 'window_rev'), (2, 2),
     'wide_rows'),
])
def test_matches_per_order_reference(backend, orders, window, layout):
    grid = (2, 3, 4)
    perm, _ = get_orders(orders, *grid, window=window,
                         unified_layout=layout)
    K = perm.shape[0]
    inputs = make_inputs(K, grid=grid)
    y = multi_order_scan(**inputs, orders=orders, grid=grid, window=window,
                         unified_layout=layout, backend=backend)
    ref = multi_order_reference(**inputs, delta_softplus=True,
                                perms=perm.tolist())
    assert y.shape == (2, K // 2, 3, 24)
    _close(y, ref, 1e-5, 'output')
    gy = torch.randn_like(ref)
    names = list(inputs)
    grads = torch.autograd.grad((y.double() * gy).sum(),
                                [inputs[n] for n in names])
    rgrads = torch.autograd.grad((ref * gy).sum(),
                                 [inputs[n] for n in names])
    for name, g, rg in zip(names, grads, rgrads):
        _close(g, rg, 1e-5, f'grad {name}')


def test_low_rank_delta_on_the_generic_route():
    """Delta's factors, expanded by the op: the values and gradients of the
    delta the caller would have expanded."""
    g = torch.Generator().manual_seed(3)
    inputs = make_inputs(6)
    del inputs['delta']
    low = torch.randn(2, 24, 6, 2, generator=g).requires_grad_()
    weight = torch.randn(6, 3, 2, generator=g).requires_grad_()
    kw = dict(orders='sts6d', grid=(2, 3, 4), backend='torch')
    y = multi_order_scan(delta=LowRankDelta(low, weight), **inputs, **kw)
    delta = torch.einsum('blkr,kdr->bkdl', low, weight)
    assert LowRankDelta(low, weight).shape == delta.shape
    ref = multi_order_scan(delta=delta, **inputs, **kw)
    _close(y, ref, 1e-6, 'output')
    gy = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad((y * gy).sum(), (low, weight)),
                    torch.autograd.grad((ref * gy).sum(), (low, weight))):
        _close(a, b, 1e-5, 'grad')
    with pytest.raises(ValueError, match='^delta.weight must'):
        multi_order_scan(delta=LowRankDelta(low, weight[:, :2]), **inputs,
                         **kw)
    with pytest.raises(ValueError, match='^delta.low must'):
        multi_order_scan(delta=LowRankDelta(low[:, :5], weight), **inputs,
                         **kw)


def test_cpu_auto_never_consults_the_fused_backend(monkeypatch):
    def forbidden():
        raise AssertionError('the fused backend was probed on CPU')

    monkeypatch.setattr(multi_scan_module, '_load_fused', forbidden)
    monkeypatch.delenv('STMAMBA_SCAN_BACKEND', raising=False)
    inputs = make_inputs(2)
    y = multi_order_scan(**inputs, orders='wsts', grid=(2, 3, 4),
                         window=(2, 2))
    assert y.shape == (2, 1, 3, 24)


def test_explicit_triton_calls_the_fused_hook(monkeypatch):
    calls = []

    class FakeFused:

        @staticmethod
        def is_supported(*args, **kwargs):
            calls.append(('is_supported', kwargs))
            return True

        @staticmethod
        def multi_order_scan_triton(u, delta, A, B, C, D, delta_bias,
                                    delta_softplus, **kwargs):
            calls.append(('scan', kwargs))
            return torch.zeros(u.shape[0], delta.shape[1] // 2,
                               *u.shape[1:])

    monkeypatch.setattr(multi_scan_module, '_load_fused',
                        lambda: (FakeFused, None))
    inputs = make_inputs(6)
    y = multi_order_scan(**inputs, orders='sts6d', grid=(2, 3, 4),
                         unified_layout='wide_cols', backend='triton')
    assert y.shape == (2, 3, 3, 24)
    expected = dict(orders=('unified', 'spatial', 'temporal', 'unified_rev',
                            'spatial_rev', 'temporal_rev'),
                    grid=(2, 3, 4), window=(8, 6),
                    unified_layout='wide_cols')
    assert calls == [('is_supported', expected), ('scan', expected)]


@pytest.mark.parametrize('env,installed,work,expected', [
    (None, False, 1, True), (None, True, 8 * 192 * 2, False),
    (None, True, 8 * 192 * 6, True),
    (None, True, 32 * 512 * 6, True), ('1', True, 1, True),
    ('0', False, 10**6, False)])
def test_auto_policy_for_the_fused_kernel(monkeypatch, env, installed, work,
                                          expected):
    # 'auto' takes the fused kernel where mamba-ssm is missing, or where the
    # problem is wide enough for it to win (measured), unless
    # STMAMBA_FUSED_SCAN says otherwise.
    if env is None:
        monkeypatch.delenv(multi_scan_module.ENV_FUSED, raising=False)
    else:
        monkeypatch.setenv(multi_scan_module.ENV_FUSED, env)
    monkeypatch.setattr(multi_scan_module, '_mamba_ssm_installed',
                        lambda: installed)
    assert multi_scan_module._auto_takes_fused(work) is expected


def test_explicit_triton_ignores_the_auto_policy(monkeypatch):
    class FakeFused:

        @staticmethod
        def is_supported(*args, **kwargs):
            return True

        @staticmethod
        def multi_order_scan_triton(u, delta, A, B, C, D, delta_bias,
                                    delta_softplus, **kwargs):
            return torch.zeros(u.shape[0], delta.shape[1] // 2,
                               *u.shape[1:])

    monkeypatch.setattr(multi_scan_module, '_load_fused',
                        lambda: (FakeFused, None))
    monkeypatch.setenv(multi_scan_module.ENV_FUSED, '0')
    inputs = make_inputs(6)
    y = multi_order_scan(**inputs, orders='sts6d', grid=(2, 3, 4),
                         backend='triton')
    assert y.shape == (2, 3, 3, 24)


def test_errors(monkeypatch):
    monkeypatch.delenv('STMAMBA_SCAN_BACKEND', raising=False)
    inputs = {k: v.detach() for k, v in make_inputs(6).items()}
    kw = dict(orders='sts6d', grid=(2, 3, 4))
    with pytest.raises(RuntimeError, match='triton'):
        multi_order_scan(**inputs, **kw, backend='triton')
    with pytest.raises(ValueError, match='backend='):
        multi_order_scan(**inputs, **kw, backend='fused')
    with pytest.raises(ValueError, match='grid='):
        multi_order_scan(**inputs, orders='sts6d', grid=(2, 3, 3))
    with pytest.raises(ValueError, match='^delta must'):
        multi_order_scan(**{**inputs, 'delta': inputs['delta'][:, :2]},
                         **kw)
    with pytest.raises(ValueError, match='^A must'):
        multi_order_scan(**{**inputs, 'A': inputs['A'][:3]}, **kw)
    with pytest.raises(ValueError, match='orders='):
        multi_order_scan(**inputs, orders='sts5d', grid=(2, 3, 4))
    monkeypatch.setenv('STMAMBA_SCAN_BACKEND', 'ref')
    assert multi_order_scan(**inputs, **kw).shape == (2, 3, 3, 24)


@pytest.mark.skipif(not HAS_CUDA, reason='needs a CUDA device')
@pytest.mark.parametrize('backend', ['auto', 'torch'])
def test_cuda_matches_reference(backend):
    grid = (2, 4, 6)
    perm, _ = get_orders('sts6d', *grid)
    inputs = make_inputs(6, grid=grid, device='cuda', state=16)
    y = multi_order_scan(**inputs, orders='sts6d', grid=grid,
                         backend=backend)
    cpu = {k: v.detach().cpu() for k, v in inputs.items()}
    ref = multi_order_reference(**cpu, delta_softplus=True,
                                perms=perm.tolist())
    _close(y.cpu(), ref, 1e-5, 'output')
