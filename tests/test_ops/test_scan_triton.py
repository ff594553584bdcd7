"""Tests of the fused multi-order scan (``ops/scan_triton.py``).

Every case compares the output and the gradients of all inputs with the
float64 per-order loop of ``_reference.py`` (and, on GPU, with the generic
``multi_order_scan`` torch backend).  On a machine without CUDA the kernels
run in Triton's interpreter (``TRITON_INTERPRET=1``, a subprocess because
Triton reads the flag when a kernel is defined) at small sizes.
"""
import math
import os

import pytest
import torch

from mmpose_stmamba.ops.scan_orders import normalize_orders, order_permutation
from ._interpreter import rel_max, run_interpreter_main
from ._reference import chain_reference, multi_order_reference

HAS_CUDA = torch.cuda.is_available()
try:
    import triton
    import triton.language as tl
    HAS_TRITON = True
except ImportError:
    HAS_TRITON = False

if HAS_TRITON:
    from mmpose_stmamba.ops.scan_triton_seq import (_program_slot, _sigmoid,
                                                    _softplus)

    @triton.jit
    def _count_slots(count_ptr):
        tl.atomic_add(count_ptr + _program_slot(), 1)

    @triton.jit
    def _softplus_probe(x_ptr, sp_ptr, sg_ptr, n, BLOCK: tl.constexpr,
                        FAST: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offs, mask=offs < n)
        tl.store(sp_ptr + offs, _softplus(x, FAST), mask=offs < n)
        tl.store(sg_ptr + offs, _sigmoid(x, FAST), mask=offs < n)


def softplus_errors(device, fast):
    """Max relative errors of the kernels' softplus and sigmoid against
    torch in float64, over [-40, 40], where the log1p switches (x ~ -2.77)
    and further out (not below -87, where exp(x) is an fp32 denormal, which
    the special-function unit flushes to 0)."""
    x = torch.cat([torch.linspace(-40, 40, 8001, dtype=torch.float64),
                   torch.tensor([-80., -60., 0., 20., 30., 88.]),
                   torch.linspace(-2.80, -2.74, 601, dtype=torch.float64)])
    xf = x.float().to(device)
    sp, sg = torch.empty_like(xf), torch.empty_like(xf)
    _softplus_probe[(triton.cdiv(x.numel(), 1024), )](
        xf, sp, sg, x.numel(), BLOCK=1024, FAST=fast)
    xd = xf.double().cpu()
    ref_sp, ref_sg = torch.nn.functional.softplus(xd), torch.sigmoid(xd)
    rel = [((got.cpu().double() - ref).abs() / ref.abs().clamp_min(1e-300))
           .max().item() for got, ref in ((sp, ref_sp), (sg, ref_sg))]
    return dict(softplus=rel[0], sigmoid=rel[1])


# (orders, grid, window, unified_layout, dm, n): ragged chunks, channel
# blocks and tube windows on purpose.
SMALL_CASES = [
    ('sts6d', (2, 3, 5), (8, 6), 'wide_rows', 5, 4),
    ('wsts', (2, 5, 7), (2, 3), 'wide_rows', 3, 4),
    ('sts6d', (3, 2, 4), (8, 6), 'wide_cols', 2, 2),  # table fallback
]


def _rel(x, ref):
    err = ((x.double() - ref).norm() / ref.norm().clamp_min(1e-30)).item()
    return err if math.isfinite(err) else math.inf  # NaN must fail


def _channels_last(key, t):
    # Same values, memory laid out as the GSM block passes them: u as
    # (B, L, Dm), delta / B / C as (B, L, K, .) behind the contract's views.
    if key == 'u':
        return t.transpose(1, 2).contiguous().transpose(1, 2)
    if key in ('delta', 'B', 'C'):
        return t.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    return t


def make_inputs(batch, dm, n, grid, k, dtype, device, seed,
                with_d=True, with_bias=True, softplus=True,
                channels_last=False, rank=None):
    """Random inputs of the contract (delta is pre-softplus); with
    ``rank``, delta's low-rank factors ``low`` (B, L, K, R) and ``weight``
    (K, Dm, R) instead of ``delta``."""
    gen = torch.Generator().manual_seed(seed)
    length = math.prod(grid)

    def rnd(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=gen) * scale + shift

    A = -torch.exp(torch.rand(k * dm, n, generator=gen) * math.log(16))
    inputs = dict(
        u=rnd(batch, dm, length), delta=rnd(batch, k, dm, length, scale=0.5,
                                            shift=-1.0),
        A=A, B=rnd(batch, k, n, length), C=rnd(batch, k, n, length),
        D=rnd(k * dm) if with_d else None,
        delta_bias=rnd(k * dm, scale=0.5) if with_bias else None)
    if not softplus:  # without softplus the step sizes must be positive
        inputs['delta'] = inputs['delta'].abs() * 0.2
        inputs['delta_bias'] = None
    if rank:
        del inputs['delta']
        inputs['low'] = rnd(batch, length, k, rank, scale=0.5)
        inputs['weight'] = rnd(k, dm, rank, scale=rank**-0.5)
    out = {}
    for key, t in inputs.items():
        if t is None:
            out[key] = None
            continue
        t = t if key in ('A', 'D', 'delta_bias', 'weight') else t.to(dtype)
        t = t.to(device)
        if channels_last:
            t = _channels_last(key, t)
        out[key] = t.requires_grad_(True)
    return out


def _delta(x):
    """The inputs' delta, or its factors as a LowRankDelta."""
    from mmpose_stmamba.ops import LowRankDelta
    return x['delta'] if 'delta' in x else LowRankDelta(x['low'],
                                                        x['weight'])


def check_against_reference(orders, grid, window, layout, dm, n, dtype,
                            device, batch=2, softplus=True, seed=0,
                            with_d=True, with_bias=True,
                            channels_last=False, rank=None):
    """Max relative errors {output, grad name: err} of the fused op."""
    from mmpose_stmamba.ops.scan_triton import multi_order_scan_triton
    names = normalize_orders(orders)
    k = len(names)
    x = make_inputs(batch, dm, n, grid, k, dtype, device, seed, with_d,
                    with_bias, softplus, channels_last, rank)
    out = multi_order_scan_triton(
        x['u'], _delta(x), x['A'], x['B'], x['C'], x['D'],
        x['delta_bias'], softplus, orders=orders, grid=grid, window=window,
        unified_layout=layout)
    weight = torch.randn(out.shape, generator=torch.Generator()
                         .manual_seed(seed + 1)).to(device)
    (out.float() * weight).sum().backward()
    ref_in = {key: (None if t is None else
                    t.detach().cpu().double().requires_grad_(True))
              for key, t in x.items()}
    perms = [order_permutation(nm, *grid, window, layout) for nm in names]
    delta = _delta(ref_in)
    if rank:
        delta = torch.einsum('blkr,kdr->bkdl', *delta)
    ref = multi_order_reference(
        ref_in['u'], delta, ref_in['A'], ref_in['B'], ref_in['C'],
        ref_in['D'], ref_in['delta_bias'], softplus, perms)
    (ref * weight.cpu().double()).sum().backward()
    errs = {'out': _rel(out.detach().cpu(), ref.detach())}
    for key, t in x.items():
        if t is not None:
            errs['d' + key] = _rel(t.grad.cpu(), ref_in[key].grad)
    return errs


# Interpreter cases: (label, launch settings, check_against_reference
# arguments).  Channel blocks and chunks that do not divide Dm / L, several
# checkpoint segments, the table fallback, channels-last strides, N = 3
# (padded to 4 inside the op), one segment longer than the sequence, the
# sequence split into parts scanned in parallel, the next chunk's loads
# issued before the current one is computed (PREFETCH), and the forward
# with one program per order (SPLIT).
_SMALL = dict(fwd=dict(BLOCK_D=4, CHUNK=2, num_warps=1),
              bwd=dict(BLOCK_D=4, CHUNK=2, SEG=2, num_warps=1), parts=1)
INTERPRETER_CASES = [
    (f'{case[0]} {case[1]}', _SMALL,
     dict(args=case, seed=30 + i, channels_last=i == 0))
    for i, case in enumerate(SMALL_CASES)
] + [
    ('sts6d unmasked: Dm a multiple of BLOCK_D, L of the segments',
     _SMALL, dict(args=('sts6d', (2, 2, 4), (8, 6), 'wide_rows', 8, 4),
                  seed=38)),
    ('sts6d plain, N=3', _SMALL,
     dict(args=('sts6d', (2, 2, 3), (8, 6), 'wide_rows', 3, 3), seed=39,
          softplus=False, with_d=False, with_bias=False)),
    ('wsts one segment', dict(_SMALL, fwd=dict(_SMALL['fwd'], CHUNK=4),
                              bwd=dict(_SMALL['bwd'], CHUNK=4, SEG=8)),
     dict(args=('wsts', (2, 3, 4), (2, 3), 'wide_rows', 3, 4), seed=40)),
    ('sts6d in 3 parts', dict(_SMALL, parts=3),
     dict(args=SMALL_CASES[0], seed=41, channels_last=True)),
    ('wsts, next chunk prefetched, 2 parts',
     dict(_SMALL, fwd=dict(_SMALL['fwd'], PREFETCH=True),
          bwd=dict(_SMALL['bwd'], PREFETCH=True), parts=2),
     dict(args=SMALL_CASES[1], seed=42)),
    ('sts6d, one program per order (SPLIT), 2 parts',
     dict(_SMALL, fwd=dict(_SMALL['fwd'], SPLIT=True), parts=2),
     dict(args=SMALL_CASES[0], seed=43, channels_last=True)),
    ('wsts, SPLIT and prefetched',
     dict(_SMALL, fwd=dict(_SMALL['fwd'], SPLIT=True, PREFETCH=True)),
     dict(args=SMALL_CASES[1], seed=44)),
    # dB and dC in one reduce-scatter over 32 lanes (PAIR): N 16 (a row a
    # lane), N 20 padded to 32 (two rows a lane), a ragged channel block.
    ('sts6d, dB/dC reduce-scattered together, N=16',
     dict(_SMALL, bwd=dict(_SMALL['bwd'], BLOCK_D=32)),
     dict(args=('sts6d', (2, 2, 3), (8, 6), 'wide_rows', 40, 16), seed=45)),
    # delta as low-rank factors, expanded again in the backward
    ('sts6d, low-rank delta, 2 parts', dict(_SMALL, parts=2),
     dict(args=SMALL_CASES[0], seed=48, channels_last=True, rank=2)),
    ('wsts, dB/dC reduce-scattered together, N=20',
     dict(_SMALL, bwd=dict(_SMALL['bwd'], BLOCK_D=32), parts=2),
     dict(args=('wsts', (2, 4, 6), (2, 3), 'wide_rows', 32, 20), seed=46,
          channels_last=True)),
]


def chain_errors(device):
    """The one-launch chaining of sequence parts against the part-by-part
    recurrence, both directions; Dm 70 is not a multiple of the channel
    block (64), N 4."""
    from mmpose_stmamba.ops import scan_triton_seq as seq
    gen = torch.Generator().manual_seed(47)
    bt, k, parts, n, dm = 2, 4, 5, 4, 70
    a_t = -torch.rand(n, k * dm, generator=gen) * 2
    sdt = torch.rand(bt, k, parts, dm, generator=gen) * 3
    local = torch.randn(bt, k, parts, n, dm, generator=gen)
    errs = {}
    for reverse in (False, True):
        args = [x.to(device) for x in (a_t, sdt, local)]
        out = seq._chain(*args, reverse)
        errs[f'reverse={reverse}'] = rel_max(
            out.cpu(), chain_reference(a_t, sdt, local, reverse))
    return errs


def _interpreter_main():
    """Runs in a subprocess with TRITON_INTERPRET=1; prints the errors."""
    from mmpose_stmamba.ops import scan_triton_seq as seq
    worst = 0.0
    for label, launch, kwargs in INTERPRETER_CASES:
        for cfg, key in ((seq.SEQ_FWD_CFG, 'fwd'), (seq.SEQ_BWD_CFG, 'bwd')):
            cfg.clear()
            cfg.update(launch[key])
        seq.SEQ_PARTS = launch['parts']
        kwargs = dict(kwargs)
        errs = check_against_reference(*kwargs.pop('args'), torch.float32,
                                       'cpu', **kwargs)
        print(label, errs)
        worst = max(worst, *errs.values())
    # Every program of a grid owns its scratch slot (a shared one is a race
    # on the GPU that the sequential interpreter would not show).
    grid = (3, 2, 5)
    count = torch.zeros(math.prod(grid), dtype=torch.int32)
    _count_slots[grid](count)
    if not bool((count == 1).all()):
        worst = math.inf
        print('scratch slots shared:', count.tolist())
    errs = chain_errors('cpu')
    print('parts chained', errs)
    worst = max(worst, *errs.values())
    errs = softplus_errors('cpu', fast=False)
    print('softplus, sigmoid', errs)
    worst = max(worst, *errs.values())
    print(f'WORST {worst:.3e}')


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_interpreter_matches_reference():
    worst = run_interpreter_main('test_scan_triton', timeout=900)
    assert worst < 1e-5


def test_is_supported_reports_cpu_and_bad_orders():
    from mmpose_stmamba.ops import scan_triton
    x = make_inputs(1, 2, 4, (2, 2, 2), 6, torch.float32, 'cpu', 0)
    args = (x['u'], x['delta'], x['A'], x['B'], x['C'])
    if os.environ.get('TRITON_INTERPRET') != '1':
        assert not scan_triton.is_supported(*args, orders='sts6d',
                                            grid=(2, 2, 2))
    # Orders that are not (f, .., f_rev, ..) pairs go to the generic route.
    bad = ('spatial', 'temporal', 'unified', 'unified_rev', 'spatial_rev',
           'temporal_rev')
    why = scan_triton._why_unsupported(*args, None, None, bad, (2, 2, 2),
                                       (8, 6), None, None)
    assert why is not None and ('pairs' in why or 'CUDA' in why)


gpu = pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON),
                         reason='needs a CUDA device and triton')

# The float64 reference loops over tokens on the CPU: keep L small here;
# larger clips are compared with the generic torch backend on the GPU.
# The first ones need masks (padding steps, a part-filled channel block);
# the last one none (L = 128 = 2 segments, Dm 64), where the kernels drop
# them and load B / C rows as 16-byte vectors (scan_triton_seq._masks).
GPU_CASES = [
    ('sts6d', (2, 8, 6), (8, 6), 'wide_rows', 40, 16),
    ('wsts', (2, 8, 12), (8, 6), 'wide_rows', 24, 16),
    ('wsts', (2, 7, 9), (5, 4), 'wide_rows', 16, 8),
    ('sts6d', (2, 6, 4), (8, 6), 'tall_cols', 16, 16),
    ('sts6d', (2, 8, 8), (8, 6), 'wide_rows', 64, 16),
]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('case', GPU_CASES, ids=lambda c: f'{c[0]}-{c[1]}')
@pytest.mark.parametrize('fwd', ['default', 'pairs'])
def test_gpu_fp32_matches_reference(case, fwd, monkeypatch):
    # 'pairs': the forward with one program per pair (SPLIT off).
    from mmpose_stmamba.ops import scan_triton_seq as seq
    if fwd == 'pairs':
        monkeypatch.setattr(seq, 'SEQ_FWD_CFG',
                            dict(seq.SEQ_FWD_CFG, SPLIT=False))
    errs = check_against_reference(*case, torch.float32, 'cuda',
                                   channels_last=case[4] == 40)
    assert max(errs.values()) < 1e-4, errs


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('fast', [True, False])
def test_gpu_softplus_matches_torch(fast):
    errs = softplus_errors('cuda', fast)
    assert max(errs.values()) < 1e-5, errs


@pytest.mark.gpu
@gpu
def test_gpu_bf16_matches_reference():
    # The reference sees the same bf16-rounded inputs; the error left is
    # the bf16 rounding of the outputs and gradients.
    errs = check_against_reference('sts6d', (2, 8, 6), (8, 6),
                                   'wide_rows', 32, 16, torch.bfloat16,
                                   'cuda', channels_last=True)
    assert max(errs.values()) < 2e-2, errs


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('orders', ['sts6d', 'wsts'])
@pytest.mark.parametrize('parts', ['auto', '1'])
def test_gpu_matches_generic_torch_backend(orders, parts, monkeypatch):
    # parts '1': L = 960 = 15 segments, Dm 96: no masks, vector B / C rows
    from mmpose_stmamba.ops.multi_scan import multi_order_scan
    monkeypatch.setenv('STMAMBA_SCAN_PARTS', parts)
    grid = (5, 16, 12)
    k = len(normalize_orders(orders))
    x = make_inputs(2, 96, 16, grid, k, torch.float32, 'cuda', 3,
                    channels_last=True)
    y = {}
    grads = {}
    for backend in ('torch', 'triton'):
        for t in x.values():
            if t is not None:
                t.grad = None
        out = multi_order_scan(x['u'], x['delta'], x['A'], x['B'], x['C'],
                               x['D'], x['delta_bias'], True, orders=orders,
                               grid=grid, backend=backend)
        out.square().sum().backward()
        y[backend] = out.detach()
        grads[backend] = {key: t.grad.clone() for key, t in x.items()
                          if t is not None}
    assert _rel(y['triton'], y['torch'].double()) < 1e-4
    for key, g in grads['torch'].items():
        assert _rel(grads['triton'][key], g.double()) < 1e-4, key


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('amp', [False, True])
def test_gpu_low_rank_delta_matches_the_expanded_one(amp):
    """Delta as factors (kept, expanded again in the backward) against the
    same delta expanded by the caller: the forward is the same launch on
    the same values; the gradients differ only by the kernels' atomics."""
    from mmpose_stmamba.ops import LowRankDelta
    from mmpose_stmamba.ops.scan_triton import multi_order_scan_triton
    grid = (5, 16, 12)
    x = make_inputs(2, 96, 16, grid, 6, torch.float32, 'cuda', 5, rank=6)
    runs = []
    for factors in (True, False):
        for t in x.values():
            if t is not None:
                t.grad = None
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=amp):
            delta = LowRankDelta(x['low'], x['weight'])
            out = multi_order_scan_triton(
                x['u'], delta if factors else delta.expand(), x['A'],
                x['B'], x['C'], x['D'], x['delta_bias'], True,
                orders='sts6d', grid=grid)
        out.float().square().sum().backward()
        runs.append((out.detach(), {key: t.grad.clone() for key, t in
                                    x.items() if t is not None}))
    (out_f, grads_f), (out_e, grads_e) = runs
    assert torch.equal(out_f, out_e)
    for key, g in grads_e.items():
        assert grads_f[key].dtype == g.dtype, key
        assert _rel(grads_f[key], g.double()) < 1e-3, key


@pytest.mark.gpu
@gpu
def test_gpu_auto_dispatch_follows_preference(monkeypatch):
    from mmpose_stmamba.ops import multi_scan, scan_triton
    x = make_inputs(1, 8, 16, (3, 8, 6), 6, torch.bfloat16, 'cuda', 4)
    args = (x['u'], x['delta'], x['A'], x['B'], x['C'], None, None, True)
    kw = dict(orders=multi_scan.normalize_orders('sts6d'), grid=(3, 8, 6),
              window=(8, 6), unified_layout='wide_rows')
    # capability does not depend on the preference
    assert scan_triton.is_supported(*args, **kw)
    monkeypatch.delenv(multi_scan.ENV_BACKEND, raising=False)
    monkeypatch.setenv(multi_scan.ENV_FUSED, '1')
    assert multi_scan._resolve('auto', *args, kw) == 'triton'
    monkeypatch.setenv(multi_scan.ENV_FUSED, '0')
    assert multi_scan._resolve('auto', *args, kw) == 'auto'
    assert multi_scan._resolve('triton', *args, kw) == 'triton'


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_parts_setting_is_checked(monkeypatch):
    from mmpose_stmamba.ops import scan_triton_seq as seq
    monkeypatch.setenv('STMAMBA_SCAN_PARTS', '0')
    with pytest.raises(ValueError, match='STMAMBA_SCAN_PARTS'):
        seq._parts(100, 240)
    monkeypatch.setenv('STMAMBA_SCAN_PARTS', '4')
    assert seq._parts(100, 240) == 4
    assert seq._parts(100, 3) == 3  # no more parts than segments
    monkeypatch.delenv('STMAMBA_SCAN_PARTS')
    monkeypatch.setattr(seq, 'SEQ_PARTS', None)
    # automatic: powers of two up to the target number of programs
    assert seq._parts(seq.PARTS_TARGET, 240) == 1
    assert seq._parts(seq.PARTS_TARGET // 4, 240) == 4
    assert seq._parts(seq.PARTS_TARGET // 3, 240) == 4
    assert seq._parts(1, 240) == seq.MAX_PARTS
    assert seq._parts(1, 5) == 4
    monkeypatch.setattr(seq, 'SEQ_PARTS', 1)
    assert seq._parts(1, 240) == 1  # forced off
    monkeypatch.setenv('STMAMBA_SCAN_PARTS', 'auto')
    assert seq._parts(1, 240) == seq.MAX_PARTS


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_launch_override_is_checked(monkeypatch):
    from mmpose_stmamba.ops import scan_triton_seq as seq
    monkeypatch.setenv('STMAMBA_SCAN_LAUNCH', '{"fwd": {"CHUNK": 4}}')
    fcfg, bcfg = seq._launch_cfgs()
    assert fcfg['CHUNK'] == 4 and bcfg == seq.SEQ_BWD_CFG
    monkeypatch.setenv('STMAMBA_SCAN_LAUNCH', 'CHUNK=4')
    with pytest.raises(ValueError, match='STMAMBA_SCAN_LAUNCH'):
        seq._launch_cfgs()


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_paired_lane_sums_where_a_warp_holds_the_block():
    # dB and dC share a reduce-scatter only where the 32 channels of a
    # block are the lanes of one warp and each lane gets a whole row.
    from mmpose_stmamba.ops import scan_triton_seq as seq
    default = dict(seq.SEQ_BWD_CFG)
    assert seq._lane_sums(default, 16)['PAIR']
    assert seq._lane_sums(default, 32)['PAIR']
    assert not seq._lane_sums(default, 8)['PAIR']  # fewer rows than lanes
    assert not seq._lane_sums(dict(default, PAIR=False), 16)['PAIR']
    assert not seq._lane_sums(dict(default, BLOCK_D=16), 16)['PAIR']
    assert not seq._lane_sums(dict(default, BLOCK_D=64, num_warps=2),
                              16)['PAIR']
    # Compiled kernels shuffle with inline PTX (this process does not run
    # the interpreter); without PAIR nothing is shuffled by hand.
    assert seq._lane_sums(default, 16)['SHFL']
    assert not seq._lane_sums(default, 8)['SHFL']


@pytest.mark.gpu
@gpu
def test_gpu_parts_chain_matches_recurrence():
    errs = chain_errors('cuda')
    assert max(errs.values()) < 1e-5, errs
