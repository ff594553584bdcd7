"""Tests of the fused deformable sampling (``ops/deform_sample_triton.py``).

Every case compares the output and the gradients of x, offsets, masks and
the point weights with the ``'grid_sample'`` implementation of
:class:`ModulatedDeformSampler`.  Without CUDA the kernels run in Triton's
interpreter (``TRITON_INTERPRET=1``, in a subprocess because Triton reads
the flag when a kernel is defined) at small sizes; CUDA tests compare fp32
and bf16 (also under autocast) at larger ones.
"""
import math
import os

import pytest
import torch

from mmpose_stmamba.models.layers import (DeformableAggregation,
                                          ModulatedDeformSampler)
from ._interpreter import (HAS_CUDA, HAS_TRITON, rel_max, run_cases,
                           run_interpreter_main)


def make_inputs(frame_taps, k, B=2, C=8, G=2, T=3, H=5, W=4, scale=1.5,
                integer=False, seed=0, device='cpu'):
    """x, offsets (a few pixels: some samples leave the frame), masks."""
    gen = torch.Generator().manual_seed(seed)
    taps = len(frame_taps)
    x = torch.randn(B, C, T, H, W, generator=gen)
    offsets = torch.randn(B, G, taps, k * k, 2, T, H, W,
                          generator=gen) * scale
    if integer:  # samples exactly on pixels (and on the frame's edges)
        offsets = offsets.round()
    masks = torch.rand(B, G, taps, k * k, T, H, W, generator=gen)
    return [t.to(device) for t in (x, offsets, masks)]


def compare_sampler(frame_taps, k, dtype=torch.float32, device='cpu',
                    channels_last=False, seed=0, **shape):
    """{name: error} of impl='triton' in dtype against 'grid_sample' in
    fp32, both on the same (dtype-rounded) values."""
    x, offsets, masks = (
        t.to(dtype).float()
        for t in make_inputs(frame_taps, k, seed=seed, device=device, **shape))
    C, G = x.shape[1], offsets.shape[1]
    gen = torch.Generator().manual_seed(seed + 1)
    weight = torch.randn(C, len(frame_taps), k * k, generator=gen)
    grad = torch.randn(x.shape, generator=gen).to(device)
    results = {}
    for impl, cast in (('grid_sample', torch.float32), ('triton', dtype)):
        sampler = ModulatedDeformSampler(C, frame_taps, k, G, impl).to(device)
        with torch.no_grad():
            sampler.weight.copy_(weight)
        xi = x.to(cast, copy=True)
        if channels_last:  # channel stride 1: no copy inside the op
            xi = xi.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)
        inputs = [t.requires_grad_() for t in (xi, offsets.to(cast).clone(),
                                               masks.to(cast).clone())]
        out = sampler(*inputs)
        assert out.dtype == cast and out.shape == x.shape
        (out.float() * grad).sum().backward()
        results[impl] = [out.detach()] + [t.grad for t in inputs] + [
            sampler.weight.grad]
    names = ('out', 'dx', 'doffsets', 'dmasks', 'dweight')
    return {
        name: rel_max(ours, ref)
        for name, ours, ref in zip(names, results['triton'],
                                   results['grid_sample'])
    }


def compare_aggregation(frame_taps, k, device='cpu', autocast=False,
                        seed=0, B=2, C=8, G=2, T=2, H=4, W=5,
                        norm_errors=False):
    """The whole DeformableAggregation with impl='triton' (the channels-last
    route: fused depthwise convolution, linear layers, offsets a strided
    view of the offset head's output) against 'grid_sample' (Conv3d
    modules on (B, C, T, H, W)); ``norm_errors`` adds relative Frobenius
    errors (``<name>_l2``)."""
    torch.manual_seed(seed)
    ref = DeformableAggregation(C, frame_taps, k, G, 'grid_sample')
    with torch.no_grad():
        ref.offset_pw.weight.normal_(std=0.3)
        ref.sampler.weight.normal_()
    ours = DeformableAggregation(C, frame_taps, k, G, 'triton')
    ours.load_state_dict(ref.state_dict())
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, H, W, generator=gen).to(device)
    guide = torch.randn(B, C, T, H, W, generator=gen).to(device)
    results = []
    for module in (ref, ours):
        module.to(device)
        xi = x.clone().requires_grad_()
        with torch.autocast(device_type=device, dtype=torch.bfloat16,
                            enabled=autocast):
            out = module(xi, guide)
        out.float().square().sum().backward()
        results.append((out.detach(), xi.grad, module.offset_pw.weight.grad,
                        module.sampler.weight.grad))
    names = ('out', 'dx', 'doffset_pw', 'dweight')
    errs = {
        name: rel_max(ours, ref)
        for name, ref, ours in zip(names, *results)
    }
    if norm_errors:
        errs.update({
            f'{name}_l2': _rel_l2(ours, ref)
            for name, ref, ours in zip(names, *results)
        })
    return errs


def _rel_l2(x, ref):
    """||x - ref|| / ||ref|| (Frobenius); NaN fails."""
    err = ((x.double() - ref.double()).norm() /
           ref.double().norm().clamp_min(1e-30)).item()
    return err if math.isfinite(err) else math.inf


# Interpreter cases: (label, function, kwargs).  Pixel blocks smaller than
# the frame (ragged), C/G not a power of two, frames beyond the clip,
# samples on integer positions, channels-last x, strided offsets.
INTERPRETER_CASES = [
    ('spatial 3x3', compare_sampler, dict(frame_taps=(0, ), k=3)),
    ('temporal taps, C/G=3', compare_sampler,
     dict(frame_taps=(-1, 0, 1), k=1, C=6, seed=1, channels_last=True)),
    # grid_sample normalises positions by 2 / (size - 1) and back: exact
    # for H - 1 and W - 1 powers of two, so that a sample on a pixel stays
    # on it (the position gradient is one-sided there, and both sides
    # differ; for W = 4 grid_sample lands a rounding error below)
    ('integer offsets', compare_sampler,
     dict(frame_taps=(1, ), k=3, integer=True, B=1, W=3, seed=2)),
    ('aggregation', compare_aggregation, dict(frame_taps=(-1, 0, 1), k=1)),
]


def _interpreter_main():
    """Runs in a subprocess with TRITON_INTERPRET=1; prints the errors."""
    from mmpose_stmamba.ops import deform_sample_triton as ds
    ds.FWD_CFG.update(BLOCK_Q=16)
    ds.BWD_CFG.update(BLOCK_Q=16)
    run_cases(INTERPRETER_CASES)


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_interpreter_matches_grid_sample():
    worst = run_interpreter_main('test_deform_sample_triton', timeout=600)
    assert worst < 1e-5


@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_bad_shapes_raise():
    from mmpose_stmamba.ops.deform_sample_triton import modulated_deform_sample
    x, offsets, masks = make_inputs((0, ), 3)
    weight = torch.ones(8, 1, 9)
    with pytest.raises(ValueError, match='masks.shape'):
        modulated_deform_sample(x, offsets, masks[:, :, :, :4], weight,
                                (0, ), 3)
    with pytest.raises(ValueError, match='offsets.shape'):
        modulated_deform_sample(x, offsets[:, :, :, :, :1], masks, weight,
                                (0, ), 3)
    with pytest.raises(ValueError, match='weight.shape'):
        modulated_deform_sample(x, offsets, masks, weight[:4], (0, ), 3)
    with pytest.raises(ValueError, match='x must be'):
        modulated_deform_sample(x[0], offsets, masks, weight, (0, ), 3)


@pytest.mark.skipif(os.environ.get('TRITON_INTERPRET') == '1',
                    reason='the interpreter runs CPU tensors')
def test_triton_on_cpu_raises_and_auto_is_grid_sample():
    x, offsets, masks = make_inputs((-1, 0, 1), 1)
    triton_sampler = ModulatedDeformSampler(8, (-1, 0, 1), 1, 2, 'triton')
    with pytest.raises(RuntimeError, match='CUDA|Triton'):
        triton_sampler(x, offsets, masks)
    auto = ModulatedDeformSampler(8, (-1, 0, 1), 1, 2, 'auto')
    ref = ModulatedDeformSampler(8, (-1, 0, 1), 1, 2, 'grid_sample')
    assert torch.equal(auto(x, offsets, masks), ref(x, offsets, masks))


gpu = pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON),
                         reason='needs a CUDA device and triton')

# H - 1 and W - 1 powers of two: grid_sample's normalisation is exact, so
# bf16 offsets that land on whole pixels stay there in both (see the
# 'integer offsets' case above).
GPU_SHAPE = dict(B=2, C=64, G=4, T=5, H=17, W=9, scale=3.0)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize('frame_taps,k', [((0, ), 3), ((-1, 0, 1), 1)])
def test_gpu_matches_grid_sample(frame_taps, k, dtype, tol):
    errs = compare_sampler(frame_taps, k, dtype, 'cuda', **GPU_SHAPE)
    assert max(errs.values()) < tol, errs
    errs = compare_sampler(frame_taps, k, dtype, 'cuda', channels_last=True,
                           seed=3, **dict(GPU_SHAPE, C=192, G=4))
    assert max(errs.values()) < tol, errs


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize('frame_taps,k', [((0, ), 3), ((-1, 0, 1), 1)])
def test_gpu_aggregation(frame_taps, k):
    shape = dict(C=48, G=4, T=5, H=17, W=9)
    # fp32: the two routes agree to rounding (cuDNN's TF32 off)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        errs = compare_aggregation(frame_taps, k, 'cuda', **shape)
    assert max(errs.values()) < 1e-4, errs
    # bf16 autocast: the channels-last route keeps its depthwise
    # convolution of these fp32 inputs in fp32 (cuDNN's rounds to bf16),
    # so the offsets differ by bf16 rounding, ~0.4 % of a pixel.  The
    # position gradient of bilinear sampling jumps where a sample crosses
    # a whole pixel, so the ~1 % of samples that cross differ by O(1) in
    # the offset gradient and, through the offset head, in dx: 0.13-0.16
    # in the Frobenius norm on one H200 (run 16), 0.3-0.45 in the max;
    # the output (continuous in the positions) 0.015-0.017 / 0.017-0.022.
    # The fp32 comparison above is the check of the gradients; here the
    # smooth quantities are checked at bf16 tolerance and the others
    # loosely (a wrong gradient is off by ~1)
    errs = compare_aggregation(frame_taps, k, 'cuda', autocast=True,
                               norm_errors=True, **shape)
    for name in ('out', 'dweight', 'out_l2', 'dweight_l2'):
        assert errs[name] < 3e-2, (name, errs)
    assert errs['dx_l2'] < 0.3 and errs['doffset_pw_l2'] < 0.3, errs
