"""Time the STMM deformable sampling: impl='triton' against 'grid_sample'.

The two DeformableAggregation modules of a GSM block (spatial: taps (0,),
3x3; temporal: taps (-1, 0, 1), 1x1; groups 4) at B=32, T=5, 64x48,
width 192, bf16 autocast, forward + backward: the whole module and the
sampler alone, then the fused kernel's launch settings.  Needs only torch
and triton (shell packages keep the package ``__init__``s, which import
mmpose / mmcv / mmengine / einops, from running)::

    python3 tools/gpu/time_deform_sample.py

Without CUDA (``TRITON_INTERPRET=1``) it runs tiny shapes once, as a
smoke test of this script.
"""
import os
import sys
import time
import types

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
for _name in ('mmpose_stmamba', 'mmpose_stmamba.models',
              'mmpose_stmamba.models.layers', 'mmpose_stmamba.ops'):
    _shell = types.ModuleType(_name)
    _shell.__path__ = [os.path.join(ROOT, *_name.split('.'))]
    sys.modules[_name] = _shell
from mmpose_stmamba.models.layers.deformable_aggregation import \
    DeformableAggregation  # noqa: E402
from mmpose_stmamba.ops import deform_sample_triton as ds  # noqa: E402

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
B, C, T, H, W = (32, 192, 5, 64, 48) if DEV == 'cuda' else (1, 16, 2, 5, 4)
REPS = 10 if DEV == 'cuda' else 1


def timed(fn):
    """Mean ms of fn() after a warm-up call."""
    fn()
    if DEV == 'cuda':
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(REPS):
        fn()
    if DEV == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / REPS * 1e3


def autocast():
    return torch.autocast(DEV, dtype=torch.bfloat16)


def case(taps, k, impls=('grid_sample', 'triton')):
    torch.manual_seed(0)
    mods = {
        impl: DeformableAggregation(C, taps, k, 4, impl).to(DEV)
        for impl in ('grid_sample', 'triton')
    }
    with torch.no_grad():  # offsets of a few pixels, as after training
        mods['grid_sample'].offset_pw.weight.normal_(std=0.05)
    mods['triton'].load_state_dict(mods['grid_sample'].state_dict())
    x = torch.randn(B, C, T, H, W, device=DEV, requires_grad=True)
    guide = torch.randn(B, C, T, H, W, device=DEV)
    gout = torch.randn(B, C, T, H, W, device=DEV)
    results = {}
    for impl in impls:
        mod = mods[impl]

        def block():
            with autocast():
                out = mod(x, guide)
            out.backward(gout)
            return out

        x.grad = None
        out = block()
        results[impl] = (out.detach().float(), x.grad.clone())
        # the sampler alone, on inputs from one pass of the offset head
        with torch.no_grad(), autocast():
            pred = mod.offset_pw(mod.offset_dw(x + guide))
        G, ntaps, P = mod._shape
        pred = pred.view(B, G, ntaps, P, 3, T, H, W)
        off = pred[:, :, :, :, :2].requires_grad_()
        msk = pred[:, :, :, :, 2].sigmoid().requires_grad_()
        xb = x.detach().to(torch.bfloat16).requires_grad_()

        def sampler_fwd():
            with torch.no_grad(), autocast():
                mod.sampler(xb, off, msk)

        def sampler():
            with autocast():
                out = mod.sampler(xb, off, msk)
            out.backward(gout.to(out.dtype))

        print(f'taps={taps} k={k} {impl:11s} module fwd+bwd '
              f'{timed(block):7.2f} ms | sampler fwd '
              f'{timed(sampler_fwd):7.2f} ms, fwd+bwd {timed(sampler):7.2f}'
              ' ms')
    if len(results) == 2:
        (o1, g1), (o2, g2) = results['grid_sample'], results['triton']

        def rel(a, b):
            return ((a - b).abs().max() / b.abs().max()).item()

        print(f'    triton vs grid_sample (bf16): out {rel(o2, o1):.1e}, '
              f'dx {rel(g2, g1):.1e}')


def main():
    print(torch.__version__, 'triton', ds.triton.__version__, DEV,
          torch.cuda.get_device_name() if DEV == 'cuda' else '')
    print('FWD_CFG', ds.FWD_CFG, 'BWD_CFG', ds.BWD_CFG)
    case((0, ), 3)
    case((-1, 0, 1), 1)
    if DEV != 'cuda':
        return
    # launch settings (module-level dicts, read at every call)
    for fwd_q, bwd_q, warps in ((64, 32, 8), (32, 16, 4), (16, 8, 4),
                                (32, 32, 8)):
        ds.FWD_CFG.update(BLOCK_Q=fwd_q, num_warps=warps)
        ds.BWD_CFG.update(BLOCK_Q=bwd_q, num_warps=warps)
        print('FWD_CFG', ds.FWD_CFG, 'BWD_CFG', ds.BWD_CFG)
        case((0, ), 3, impls=('triton', ))
        case((-1, 0, 1), 1, impls=('triton', ))


if __name__ == '__main__':
    main()
