# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Fused modulated deformable sampling for STMM (Triton, CUDA).

The op (:func:`modulated_deform_sample`), for x (B, C, T, H, W), channel
group g(c) = c // (C / G), frame taps tau_i and k x k kernel cells
(cy_p, cx_p) = (p // k - k // 2, p % k - k // 2)::

    out[b, c, t, y, x] = sum_{i, p} weight[c, i, p]
        * masks[b, g(c), i, p, t, y, x]
        * bilinear(x[b, c, t + tau_i], y + cy_p + dy, x + cx_p + dx)

with (dy, dx) = offsets[b, g(c), i, p, :, t, y, x] in pixels.  Bilinear
sampling reads zeros outside the frame (each of the four corners on its
own) and frames t + tau_i outside [0, T) read zeros: the numbers of
``F.grid_sample(..., padding_mode='zeros', align_corners=True)`` on the
shifted frames, which is what the ``'grid_sample'`` implementation of
:class:`~mmpose_stmamba.models.layers.ModulatedDeformSampler` computes
one point at a time (P copies of the features in fp32, forward, recompute
and backward).  Importing this module needs Triton.

References:
    * DCNv2 (Zhu et al., CVPR 2019) and DCNv3 (Wang et al., CVPR 2023): the
      modulated, grouped, depthwise sampling this op computes; the
      backward is the usual one of bilinear sampling (corner weights for
      the features, finite differences of the corners for the positions).
      Written from the formula above, not from their CUDA code.

Design:
    * A program owns BLOCK_Q pixels of one frame (b, t) and the C/G channels
      of one group g: a (BLOCK_Q, BLOCK_C) fp32 tile, BLOCK_C = C/G rounded
      up to a power of two.  It loops over the taps and the kernel cells;
      per point it reads the pixels' (dy, dx) and mask (coalesced along the
      pixels), computes positions in fp32 (whatever the dtype of offsets
      and masks) and gathers the four corner rows of C/G channels from x
      held channels-last, (B, T, H, W, C) in memory, where each row is
      contiguous.  x is read in its own dtype (fp32 / bf16 / fp16) and
      converted in registers; accumulation is fp32.
    * Forward writes the output once, in x's dtype and layout: channels-
      last when x's channel stride is 1 (the GSM block's fused path, whose
      projections are linear layers on channels-last tokens), else the
      standard contiguous (B, C, T, H, W), for a caller whose 1x1x1 Conv3d
      is fast in that layout and slow in channels-last (ssm_mixer.py,
      docs/benchmark.md).  It keeps only its inputs for the backward pass
      (x as its channels-last copy), no sampled copies.
    * Backward recomputes the four corners of each point and, per pixel,
      reduces over the group's channels inside the program:
      s_ij = sum_c dout * weight * corner_ij, from which follow the mask
      gradient (sum of the bilinear weights times s_ij) and the (dy, dx)
      gradients (mask times the differences of s_ij), written once each,
      no atomics.  The weight gradient sum over pixels of
      dout * mask * value is reduced over the program's pixels and added
      atomically (one C/G vector per point and program).  The x gradient
      is scattered with fp32 atomic adds at the four corners into a
      channels-last fp32 buffer (a pixel's corners are shared with other
      pixels and other points), then cast to x's dtype; on sm_90 these
      compile to vector reductions (``red.global.add.v4.f32``, four
      channels per instruction, relaxed order).  The backward reads x four
      channels per thread so that its gathers and atomics share one
      register layout.
    * Positions far outside the frame are clamped to one pixel beyond it
      before the integer conversion: there every corner is padding, so
      value and gradients are zero either way.
    * One difference from ``'grid_sample'``: a frame of height (width) 1.
      There grid_sample's normalisation by max(size - 1, 1) maps every
      row (column) to the single one; this op pads with zeros as for any
      other size.  On a sample exactly on a pixel, the position gradient
      is one-sided (the right/lower side, as grid_sample's at exact
      positions); grid_sample's normalisation may move such a sample a
      rounding error to the other side when size - 1 is not a power of
      two.
"""
import functools
from typing import Sequence

import torch
import triton
import triton.language as tl

from ._triton_support import why_unsupported

__all__ = ['modulated_deform_sample', 'why_unsupported', 'FWD_CFG', 'BWD_CFG']

#: Launch settings, pixels per program and warps.  Compiled for sm_90 with
#: Triton 3.6 (C/G = 48): forward 57 registers (bf16) / 101 (fp32),
#: backward at BLOCK_Q 32: 128 / 177, no spills.  Timed on one H100
#: (docs/benchmark.md, run 11; GSM block's two samplers, B=32, T=5,
#: 64x48, C=192, bf16 autocast, module fwd+bwd): (32, 8) / (32, 8) gave
#: 27.0 + 18.3 ms, (32, 8) / (16, 8) 30.5 + 17.6, (64, 8) / (32, 8)
#: 27.4 + 18.6; grid_sample: 82.5 + 40.3 ms.
FWD_CFG = dict(BLOCK_Q=32, num_warps=8)
BWD_CFG = dict(BLOCK_Q=32, num_warps=8)


@triton.jit
def _point(off_b, msk_b, taps_ptr, i, p, t, T, H, W, hq, wq, mq,
           so_i, so_p, so_c, so_t, so_h, so_w, sm_i, sm_p, sm_t, sm_h, sm_w,
           K: tl.constexpr):
    """Geometry of point (tap i, cell p) for the pixels (hq, wq).

    Returns the frame t + tau, whether it is in the clip (scalar), the
    top-left corner (y0, x0), the fractions (fy, fx) and the mask.
    """
    tt = t + tl.load(taps_ptr + i)
    pix = t * so_t + hq * so_h + wq * so_w
    ro = off_b + i * so_i + p * so_p + pix
    dy = tl.load(ro, mask=mq, other=0.).to(tl.float32)
    dx = tl.load(ro + so_c, mask=mq, other=0.).to(tl.float32)
    m = tl.load(msk_b + i * sm_i + p * sm_p + t * sm_t + hq * sm_h +
                wq * sm_w, mask=mq, other=0.).to(tl.float32)
    py = hq.to(tl.float32) + (p // K - K // 2) + dy
    px = wq.to(tl.float32) + (p % K - K // 2) + dx
    # Beyond one pixel outside the frame every corner is padding: clamp
    # there so that the integer conversion stays in range.
    py = tl.minimum(tl.maximum(py, -2.), H + 1.)
    px = tl.minimum(tl.maximum(px, -2.), W + 1.)
    y0f = tl.floor(py)
    x0f = tl.floor(px)
    frame_ok = (tt >= 0) & (tt < T)
    return (tt, frame_ok, y0f.to(tl.int32), x0f.to(tl.int32), py - y0f,
            px - x0f, m)


@triton.jit
def _corner_ptrs(base, tt, yy, xx, ok, H, W, sx_t, sx_h, sx_w, offs_c,
                 mask_c):
    """Pointers to the channel rows of corner (yy, xx) of frame tt and the
    (BLOCK_Q, BLOCK_C) mask of those inside the frame."""
    inside = ok & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
    rows = tt * sx_t + yy * sx_h + xx * sx_w
    ptrs = base + rows[:, None] + offs_c[None, :]
    return ptrs, inside[:, None] & mask_c[None, :]


@triton.jit
def _corner(base, tt, yy, xx, ok, H, W, sx_t, sx_h, sx_w, offs_c, mask_c):
    ptrs, mask = _corner_ptrs(base, tt, yy, xx, ok, H, W, sx_t, sx_h, sx_w,
                              offs_c, mask_c)
    return tl.load(ptrs, mask=mask, other=0.).to(tl.float32)


@triton.jit
def _program_pixels(T, H, W, BLOCK_Q: tl.constexpr):
    """(batch as int64, frame, group, pixel offsets, their mask, rows,
    columns) of this program: grid (pixel blocks, B * T, G)."""
    b = tl.program_id(1) // T
    offs_q = tl.program_id(0) * BLOCK_Q + tl.arange(0, BLOCK_Q)
    return (b.to(tl.int64), tl.program_id(1) % T, tl.program_id(2), offs_q,
            offs_q < H * W, offs_q // W, offs_q % W)


@triton.jit
def _deform_fwd_kernel(x_ptr, off_ptr, msk_ptr, w_ptr, taps_ptr, out_ptr,
                       T, H, W,
                       sx_b, sx_t, sx_h, sx_w,
                       so_b, so_g, so_i, so_p, so_c, so_t, so_h, so_w,
                       sm_b, sm_g, sm_i, sm_p, sm_t, sm_h, sm_w,
                       sy_b, sy_c, sy_t, sy_h, sy_w,
                       CG: tl.constexpr, BLOCK_C: tl.constexpr,
                       BLOCK_Q: tl.constexpr, TAU: tl.constexpr,
                       K: tl.constexpr):
    # x: channels-last (channel stride 1); out: any strides.
    b64, t, g, offs_q, mq, hq, wq = _program_pixels(T, H, W, BLOCK_Q)
    offs_c = tl.arange(0, BLOCK_C)
    mask_c = offs_c < CG
    x_b = x_ptr + b64 * sx_b + g * CG
    off_b = off_ptr + b64 * so_b + g * so_g
    msk_b = msk_ptr + b64 * sm_b + g * sm_g
    w_c = w_ptr + (g * CG + offs_c) * (TAU * K * K)
    acc = tl.zeros((BLOCK_Q, BLOCK_C), dtype=tl.float32)
    for i in range(TAU):
        for p in range(K * K):
            tt, frame_ok, y0, x0, fy, fx, m = _point(
                off_b, msk_b, taps_ptr, i, p, t, T, H, W, hq, wq, mq, so_i,
                so_p, so_c, so_t, so_h, so_w, sm_i, sm_p, sm_t, sm_h, sm_w, K)
            ok = mq & frame_ok
            wc = tl.load(w_c + i * K * K + p, mask=mask_c, other=0.)
            # mask times bilinear weight of each corner, per pixel
            a1 = m * fy
            a0 = m - a1
            v = (a0 * (1. - fx))[:, None] * _corner(
                x_b, tt, y0, x0, ok, H, W, sx_t, sx_h, sx_w, offs_c, mask_c)
            v += (a0 * fx)[:, None] * _corner(
                x_b, tt, y0, x0 + 1, ok, H, W, sx_t, sx_h, sx_w, offs_c,
                mask_c)
            v += (a1 * (1. - fx))[:, None] * _corner(
                x_b, tt, y0 + 1, x0, ok, H, W, sx_t, sx_h, sx_w, offs_c,
                mask_c)
            v += (a1 * fx)[:, None] * _corner(
                x_b, tt, y0 + 1, x0 + 1, ok, H, W, sx_t, sx_h, sx_w, offs_c,
                mask_c)
            acc += v * wc[None, :]
    y_ptrs = (out_ptr + b64 * sy_b + t * sy_t + (g * CG + offs_c)[None, :] *
              sy_c + (hq * sy_h + wq * sy_w)[:, None])
    tl.store(y_ptrs, acc, mask=mq[:, None] & mask_c[None, :])


@triton.jit
def _corner_grad(x_b, gx_b, tt, yy, xx, ok, H, W, sx_t, sx_h, sx_w, sg_t,
                 sg_h, sg_w, offs_c, mask_c, gw, a):
    """One corner of the backward: scatter its x gradient gw * a, return
    (sum over the channels of gw * corner, corner)."""
    ptrs, mask = _corner_ptrs(x_b, tt, yy, xx, ok, H, W, sx_t, sx_h, sx_w,
                              offs_c, mask_c)
    v = tl.load(ptrs, mask=mask, other=0.).to(tl.float32)
    gptrs, _ = _corner_ptrs(gx_b, tt, yy, xx, ok, H, W, sg_t, sg_h, sg_w,
                            offs_c, mask_c)
    tl.atomic_add(gptrs, gw * a[:, None], mask=mask, sem='relaxed')
    return tl.sum(gw * v, axis=1), v


@triton.jit
def _deform_bwd_kernel(x_ptr, off_ptr, msk_ptr, w_ptr, taps_ptr, dy_ptr,
                       gx_ptr, goff_ptr, gmsk_ptr, gw_ptr,
                       T, H, W, C,
                       sx_b, sx_t, sx_h, sx_w,
                       so_b, so_g, so_i, so_p, so_c, so_t, so_h, so_w,
                       sm_b, sm_g, sm_i, sm_p, sm_t, sm_h, sm_w,
                       sd_b, sd_c, sd_t, sd_h, sd_w,
                       CG: tl.constexpr, BLOCK_C: tl.constexpr,
                       BLOCK_Q: tl.constexpr, TAU: tl.constexpr,
                       K: tl.constexpr):
    # x and the fp32 gx buffer: channels-last (B, T, H, W, C), contiguous
    # for gx; goff (B, G, TAU, K*K, 2, T, H, W) and gmsk (B, G, TAU, K*K, T,
    # H, W) contiguous; gw (C, TAU, K*K) fp32 zeros; dout any strides.
    b64, t, g, offs_q, mq, hq, wq = _program_pixels(T, H, W, BLOCK_Q)
    G = C // CG
    HW = H * W
    # Four channels per thread in every tile: without the hint the bf16
    # loads of x take eight and the fp32 atomics four, and Triton keeps
    # the loop's tiles in both layouts (twice the registers; 233 instead
    # of 128 at BLOCK_Q=16, 4 warps on sm_90).
    offs_c = tl.max_contiguous(tl.arange(0, BLOCK_C), 4)
    mask_c = offs_c < CG
    x_b = x_ptr + b64 * sx_b + g * CG
    gx_b = gx_ptr + b64 * (T * HW * C) + g * CG
    off_b = off_ptr + b64 * so_b + g * so_g
    msk_b = msk_ptr + b64 * sm_b + g * sm_g
    w_c = w_ptr + (g * CG + offs_c) * (TAU * K * K)
    dout = tl.load(dy_ptr + b64 * sd_b + t * sd_t +
                   (g * CG + offs_c)[None, :] * sd_c +
                   (hq * sd_h + wq * sd_w)[:, None],
                   mask=mq[:, None] & mask_c[None, :],
                   other=0.).to(tl.float32)
    # (b, g) row of the point-major gradients; point (i, p) adds
    # (i * K*K + p) * 2 (resp. 1) planes of T*H*W
    goff_b = goff_ptr + (b64 * G + g) * (TAU * K * K * 2 * T * HW) + t * HW
    gmsk_b = gmsk_ptr + (b64 * G + g) * (TAU * K * K * T * HW) + t * HW
    for i in range(TAU):
        for p in range(K * K):
            tt, frame_ok, y0, x0, fy, fx, m = _point(
                off_b, msk_b, taps_ptr, i, p, t, T, H, W, hq, wq, mq, so_i,
                so_p, so_c, so_t, so_h, so_w, sm_i, sm_p, sm_t, sm_h, sm_w, K)
            ok = mq & frame_ok
            wc = tl.load(w_c + i * K * K + p, mask=mask_c, other=0.)
            # d out / d(mask * value), per channel
            gw = dout * wc[None, :]
            a1 = m * fy
            a0 = m - a1
            s00, v = _corner_grad(x_b, gx_b, tt, y0, x0, ok, H, W, sx_t,
                                  sx_h, sx_w, HW * C, W * C, C, offs_c,
                                  mask_c, gw, a0 * (1. - fx))
            mv = (a0 * (1. - fx))[:, None] * v
            s01, v = _corner_grad(x_b, gx_b, tt, y0, x0 + 1, ok, H, W, sx_t,
                                  sx_h, sx_w, HW * C, W * C, C, offs_c,
                                  mask_c, gw, a0 * fx)
            mv += (a0 * fx)[:, None] * v
            s10, v = _corner_grad(x_b, gx_b, tt, y0 + 1, x0, ok, H, W, sx_t,
                                  sx_h, sx_w, HW * C, W * C, C, offs_c,
                                  mask_c, gw, a1 * (1. - fx))
            mv += (a1 * (1. - fx))[:, None] * v
            s11, v = _corner_grad(x_b, gx_b, tt, y0 + 1, x0 + 1, ok, H, W,
                                  sx_t, sx_h, sx_w, HW * C, W * C, C, offs_c,
                                  mask_c, gw, a1 * fx)
            mv += (a1 * fx)[:, None] * v
            # value = sum of corners times bilinear weights: its mask
            # gradient, and the position gradients (differences of corners)
            # times the mask
            s0 = s00 + (s01 - s00) * fx
            s1 = s10 + (s11 - s10) * fx
            g_m = s0 + (s1 - s0) * fy
            g_dy = m * (s1 - s0)
            g_dx = m * ((s01 - s00) + (s11 - s10 - s01 + s00) * fy)
            point = i * K * K + p
            tl.store(gmsk_b + point * (T * HW) + offs_q, g_m, mask=mq)
            tl.store(goff_b + point * (2 * T * HW) + offs_q, g_dy, mask=mq)
            tl.store(goff_b + (point * 2 + 1) * (T * HW) + offs_q, g_dx,
                     mask=mq)
            tl.atomic_add(gw_ptr + (g * CG + offs_c) * (TAU * K * K) + point,
                          tl.sum(dout * mv, axis=0), mask=mask_c,
                          sem='relaxed')


def _check_shapes(x, offsets, masks, weight, taps, k):
    if x.dim() != 5:
        raise ValueError(f'x must be (B, C, T, H, W), got {tuple(x.shape)}')
    B, C, T, H, W = x.shape
    if masks.dim() != 7:
        raise ValueError('masks must be (B, G, Tau, k*k, T, H, W), got '
                         f'{tuple(masks.shape)}')
    G = masks.shape[1]
    want = (B, G, len(taps), k * k, T, H, W)
    if tuple(masks.shape) != want:
        raise ValueError(f'masks.shape={tuple(masks.shape)} != {want} '
                         f'(x {tuple(x.shape)}, {len(taps)} taps, k={k})')
    want = (B, G, len(taps), k * k, 2, T, H, W)
    if tuple(offsets.shape) != want:
        raise ValueError(f'offsets.shape={tuple(offsets.shape)} != {want}')
    if C % G:
        raise ValueError(f'C={C} is not divisible by G={G}')
    if tuple(weight.shape) != (C, len(taps), k * k):
        raise ValueError(f'weight.shape={tuple(weight.shape)} != '
                         f'{(C, len(taps), k * k)}')
    for name, t in (('offsets', offsets), ('masks', masks),
                    ('weight', weight)):
        if t.device != x.device:
            raise ValueError(f'{name} is on {t.device}, x on {x.device}')


@functools.lru_cache(maxsize=16)
def _taps_tensor(taps, device):
    return torch.tensor(taps, dtype=torch.int32, device=device)


def _launch_shape(B, C, T, H, W, G, cfg):
    grid = (triton.cdiv(H * W, cfg['BLOCK_Q']), B * T, G)
    consts = dict(CG=C // G, BLOCK_C=triton.next_power_of_2(C // G))
    return grid, consts


class _DeformSample(torch.autograd.Function):
    """Autograd wrapper of the two kernels (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, offsets, masks, weight, taps, kernel_size):
        B, C, T, H, W = x.shape
        G = masks.shape[1]
        x_cl = x.permute(0, 2, 3, 4, 1)  # (B, T, H, W, C)
        if x_cl.stride(-1) != 1:
            x_cl = x_cl.contiguous()
        w32 = weight.detach().float().contiguous()
        taps_t = _taps_tensor(tuple(taps), x.device)
        # the output in x's layout: channels-last in, channels-last out
        out = torch.empty(x_cl.shape, device=x.device,
                          dtype=x.dtype).permute(0, 4, 1, 2, 3) \
            if x.stride(1) == 1 else torch.empty_like(
                x, memory_format=torch.contiguous_format)
        grid, consts = _launch_shape(B, C, T, H, W, G, FWD_CFG)
        _deform_fwd_kernel[grid](
            x_cl, offsets, masks, w32, taps_t, out, T, H, W,
            x_cl.stride(0), x_cl.stride(1), x_cl.stride(2), x_cl.stride(3),
            *offsets.stride(), *masks.stride(), out.stride(0), out.stride(1),
            out.stride(2), out.stride(3), out.stride(4), **consts,
            BLOCK_Q=FWD_CFG['BLOCK_Q'], TAU=len(taps), K=kernel_size,
            num_warps=FWD_CFG['num_warps'])
        ctx.save_for_backward(x_cl, offsets, masks, w32, taps_t)
        ctx.dtypes = (x.dtype, weight.dtype)
        ctx.kernel_size = kernel_size
        return out

    @staticmethod
    def backward(ctx, dout):
        x_cl, offsets, masks, w32, taps_t = ctx.saved_tensors
        B, T, H, W, C = x_cl.shape
        G = masks.shape[1]
        k = ctx.kernel_size
        gx = torch.zeros(B, T, H, W, C, device=dout.device,
                         dtype=torch.float32)
        goff = torch.empty(offsets.shape, device=dout.device,
                           dtype=offsets.dtype)
        gmsk = torch.empty(masks.shape, device=dout.device, dtype=masks.dtype)
        gw = torch.zeros_like(w32)
        grid, consts = _launch_shape(B, C, T, H, W, G, BWD_CFG)
        _deform_bwd_kernel[grid](
            x_cl, offsets, masks, w32, taps_t, dout, gx, goff, gmsk, gw, T,
            H, W, C, x_cl.stride(0), x_cl.stride(1), x_cl.stride(2),
            x_cl.stride(3), *offsets.stride(), *masks.stride(),
            dout.stride(0), dout.stride(1), dout.stride(2), dout.stride(3),
            dout.stride(4), **consts, BLOCK_Q=BWD_CFG['BLOCK_Q'],
            TAU=taps_t.numel(), K=k, num_warps=BWD_CFG['num_warps'])
        x_dtype, w_dtype = ctx.dtypes
        # (B, C, T, H, W) view of the channels-last buffer
        dx = gx.to(x_dtype).permute(0, 4, 1, 2, 3)
        return dx, goff, gmsk, gw.to(w_dtype), None, None


def modulated_deform_sample(x: torch.Tensor, offsets: torch.Tensor,
                            masks: torch.Tensor, weight: torch.Tensor,
                            frame_taps: Sequence[int],
                            kernel_size: int) -> torch.Tensor:
    """Depthwise modulated deformable sampling over frame taps, fused.

    Differentiable with respect to x, offsets, masks and weight.

    Args:
        x (Tensor): (B, C, T, H, W) features, fp32 / bf16 / fp16, any
            strides (copied once to channels-last unless the channel
            stride is already 1).
        offsets (Tensor): (B, G, Tau, k*k, 2, T, H, W) (dy, dx) in pixels,
            any float dtype and strides.
        masks (Tensor): (B, G, Tau, k*k, T, H, W) modulation, any float
            dtype and strides.
        weight (Tensor): (C, Tau, k*k) per-channel point weights.
        frame_taps (Sequence[int]): the Tau frame offsets tau_i.
        kernel_size (int): k (odd), cells at -k//2 .. k//2.

    Returns:
        Tensor: (B, C, T, H, W) in x's dtype: a view of a contiguous
        (B, T, H, W, C) tensor if x's channel stride is 1, else
        contiguous.  The gradient of
        x comes back as a (B, C, T, H, W) view of a channels-last tensor;
        those of offsets and masks are contiguous in their dtypes.
    """
    taps = tuple(int(tau) for tau in frame_taps)
    _check_shapes(x, offsets, masks, weight, taps, int(kernel_size))
    why = why_unsupported(x)
    if why is not None:
        raise RuntimeError(f'modulated_deform_sample (Triton): {why}')
    return _DeformSample.apply(x, offsets, masks, weight, taps,
                               int(kernel_size))
