# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Depthwise 'same' convolution over channels-last clips (Triton, CUDA).

The op (:func:`depthwise_conv_cl`), for x (B, T, H, W, C) with the channel
stride 1 and an odd kernel (kt, kh, kw) per channel::

    out[b, t, y, x, c] = bias[c] + sum_{i, j, l} weight[c, 0, i, j, l]
        * x[b, t + i - kt // 2, y + j - kh // 2, x + l - kw // 2, c]

with zeros outside the clip: ``nn.Conv3d(C, C, k, padding=k // 2,
groups=C)`` (a 2-D depthwise kernel is kt = 1) on the same numbers, in the
layout the GSM block holds its tokens in.  Why: PyTorch's depthwise 3-D
convolution in the (B, C, T, H, W) layout took 13.8 ms of a 137 ms GSM
block (H200 profile, docs/benchmark.md, run 14), cuDNN's channels-last
one picked a weight-gradient path slower than the whole scan (run 7), and
either way the block copied its tensors between the two layouts around
it.  Importing this module needs Triton.

Design:
    * Forward: a program owns BLOCK_P pixels of one frame (b, t) and
      BLOCK_C channels, a (BLOCK_P, BLOCK_C) fp32 tile; per tap it loads the
      shifted tile (channel rows contiguous, masked at the clip's borders),
      times the tap's weights (pre-transposed to (taps, C) fp32 so that the
      load is coalesced).  x is read in its dtype (any pixel strides: a
      chunk of the input projection goes in without a copy); the output
      is written once in x's dtype, contiguous channels-last.
    * The input gradient is the same kernel with the taps mirrored
      (``FLIP``): dx[p] = sum_k w[k] * dout[p - k].
    * The weight gradient: each program reduces, for its tile and every
      tap, sum_p x[p + k] * dout[p] over its pixels and writes the (taps +
      1, BLOCK_C) partial sums (the last row is the bias gradient, sum_p
      dout[p]) to its own slot of an fp32 buffer; torch sums the slots.
      No atomics: the slots' count is the tiles' (B * T * ceil(H * W /
      BLOCK_P)), a few MB at the GSM block's size.
    * fp32 accumulation throughout; weights and bias are used in fp32
      whatever the autocast dtype (cuDNN's bf16 convolution rounds its
      inputs to bf16, so the two differ by that rounding).
"""
from typing import Optional

import torch
import triton
import triton.language as tl

from ._triton_support import why_unsupported

__all__ = ['depthwise_conv_cl', 'why_unsupported', 'CFG']

#: Pixels and channels per program, warps.  Timed on one H200
#: (tools/gpu/time_dwconv.py, docs/benchmark.md run 16; B 32, T 5, 64x48,
#: C 192, bf16, fwd+bwd): (128, 32, 4) 3.05 ms (3x3x3) / 1.15 ms (1x3x3);
#: (64, 64, 4) 3.52 / 1.27; (32, 32, 2) 3.48 / 1.31; PyTorch's Conv3d on
#: (B, C, T, H, W) 9.19 / 8.42.
CFG = dict(BLOCK_P=128, BLOCK_C=32, num_warps=4)


@triton.jit
def _tile(T, H, W, C, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """(batch as int64, frame, rows, columns, pixel mask, channels, channel
    mask) of this program: grid (pixel blocks, B * T, channel blocks)."""
    bt = tl.program_id(1)
    offs_p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    return ((bt // T).to(tl.int64), bt % T, offs_p // W, offs_p % W,
            offs_p < H * W, offs_c, offs_c < C)


@triton.jit
def _shifted(x_ptr, b, t, hh, ww, mp, offs_c, mc, dt, dy, dx, T, H, W,
             sx_b, sx_t, sx_h, sx_w):
    """The (BLOCK_P, BLOCK_C) tile of x at frame t + dt, pixels shifted by
    (dy, dx), zeros outside the clip, in fp32."""
    tt = t + dt
    yy = hh + dy
    xx = ww + dx
    ok = mp & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W) & (tt >= 0) & (
        tt < T)
    rows = b * sx_b + tt * sx_t + yy * sx_h + xx * sx_w
    ptrs = x_ptr + rows[:, None] + offs_c[None, :]
    return tl.load(ptrs, mask=ok[:, None] & mc[None, :],
                   other=0.).to(tl.float32)


@triton.jit
def _dw_conv_kernel(x_ptr, w_ptr, b_ptr, out_ptr, T, H, W, C,
                    sx_b, sx_t, sx_h, sx_w,
                    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
                    FLIP: tl.constexpr, HAS_BIAS: tl.constexpr,
                    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    # w: (KT * KH * KW, C) fp32; out: (B, T, H, W, C) contiguous.
    b, t, hh, ww, mp, offs_c, mc = _tile(T, H, W, C, BLOCK_P, BLOCK_C)
    sign = -1 if FLIP else 1
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for i in tl.static_range(KT):
        for j in tl.static_range(KH):
            for k in tl.static_range(KW):
                v = _shifted(x_ptr, b, t, hh, ww, mp, offs_c, mc,
                             sign * (i - KT // 2), sign * (j - KH // 2),
                             sign * (k - KW // 2), T, H, W, sx_b, sx_t, sx_h,
                             sx_w)
                wk = tl.load(w_ptr + ((i * KH + j) * KW + k) * C + offs_c,
                             mask=mc, other=0.)
                acc += v * wk[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_c, mask=mc, other=0.)[None, :]
    pix = ((b * T + t) * H + hh) * W + ww
    ptrs = out_ptr + pix[:, None] * C + offs_c[None, :]
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty),
             mask=mp[:, None] & mc[None, :])


@triton.jit
def _dw_wgrad_kernel(x_ptr, g_ptr, part_ptr, T, H, W, C,
                     sx_b, sx_t, sx_h, sx_w, sg_b, sg_t, sg_h, sg_w,
                     KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
                     BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    # part: (tiles, KT * KH * KW + 1, C) fp32, one slot per (pixel block,
    # frame); row KT * KH * KW is the bias gradient.
    b, t, hh, ww, mp, offs_c, mc = _tile(T, H, W, C, BLOCK_P, BLOCK_C)
    g = _shifted(g_ptr, b, t, hh, ww, mp, offs_c, mc, 0, 0, 0, T, H, W,
                 sg_b, sg_t, sg_h, sg_w)
    slot = tl.program_id(1).to(tl.int64) * tl.num_programs(0) + \
        tl.program_id(0)
    base = part_ptr + slot * (KT * KH * KW + 1) * C + offs_c
    for i in tl.static_range(KT):
        for j in tl.static_range(KH):
            for k in tl.static_range(KW):
                v = _shifted(x_ptr, b, t, hh, ww, mp, offs_c, mc,
                             i - KT // 2, j - KH // 2, k - KW // 2, T, H, W,
                             sx_b, sx_t, sx_h, sx_w)
                tl.store(base + ((i * KH + j) * KW + k) * C,
                         tl.sum(v * g, axis=0), mask=mc)
    tl.store(base + KT * KH * KW * C, tl.sum(g, axis=0), mask=mc)


def _grid(x, cfg):
    B, T, H, W, C = x.shape
    return (triton.cdiv(H * W, cfg['BLOCK_P']), B * T,
            triton.cdiv(C, cfg['BLOCK_C']))


def _conv(x, w_t, bias, kernel, flip):
    """Launch the forward kernel: x (B, T, H, W, C) channel stride 1,
    w_t (taps, C) fp32, bias (C,) fp32 or None."""
    B, T, H, W, C = x.shape
    out = torch.empty(x.shape, device=x.device, dtype=x.dtype)
    _dw_conv_kernel[_grid(x, CFG)](
        x, w_t, w_t if bias is None else bias, out, T, H, W, C,
        *x.stride()[:4], KT=kernel[0], KH=kernel[1], KW=kernel[2],
        FLIP=flip, HAS_BIAS=bias is not None, BLOCK_P=CFG['BLOCK_P'],
        BLOCK_C=CFG['BLOCK_C'], num_warps=CFG['num_warps'])
    return out


def _channels_unit_stride(x):
    return x if x.stride(-1) == 1 else x.contiguous()


class _DepthwiseConv(torch.autograd.Function):
    """Autograd wrapper of the kernels (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        C = x.shape[-1]
        kernel = tuple(weight.shape[2:])
        w_t = weight.detach().float().reshape(C, -1).t().contiguous()
        b32 = None if bias is None else bias.detach().float().contiguous()
        out = _conv(x, w_t, b32, kernel, flip=False)
        ctx.save_for_backward(x, w_t)
        ctx.meta = (kernel, weight.dtype, None if bias is None else
                    bias.dtype)
        return out

    @staticmethod
    def backward(ctx, dout):
        x, w_t = ctx.saved_tensors
        kernel, w_dtype, b_dtype = ctx.meta
        dout = _channels_unit_stride(dout)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _conv(dout, w_t, None, kernel, flip=True).to(x.dtype)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            B, T, H, W, C = x.shape
            grid = _grid(x, CFG)
            taps = w_t.shape[0]
            part = torch.empty(grid[0] * grid[1], taps + 1, C,
                               device=x.device, dtype=torch.float32)
            _dw_wgrad_kernel[grid](
                x, dout, part, T, H, W, C, *x.stride()[:4],
                *dout.stride()[:4], KT=kernel[0], KH=kernel[1],
                KW=kernel[2], BLOCK_P=CFG['BLOCK_P'],
                BLOCK_C=CFG['BLOCK_C'], num_warps=CFG['num_warps'])
            sums = part.sum(dim=0)  # (taps + 1, C)
            dw = sums[:taps].t().reshape(C, 1, *kernel).to(w_dtype)
            if b_dtype is not None:
                db = sums[taps].to(b_dtype)
        return dx, dw, db


def depthwise_conv_cl(x: torch.Tensor,
                      weight: torch.Tensor,
                      bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Depthwise 'same' convolution of a channels-last clip, fused.

    Differentiable with respect to x, weight and bias.

    Args:
        x (Tensor): (B, T, H, W, C), fp32 / bf16 / fp16; any strides
            (copied once unless the channel stride is 1).
        weight (Tensor): (C, 1, kt, kh, kw), odd kernel sizes (a
            ``nn.Conv3d(C, C, k, padding=k // 2, groups=C)`` weight; a
            Conv2d one viewed with kt = 1).
        bias (Tensor, optional): (C,).

    Returns:
        Tensor: (B, T, H, W, C) contiguous, in x's dtype.
    """
    if x.dim() != 5:
        raise ValueError(f'x must be (B, T, H, W, C), got {tuple(x.shape)}')
    C = x.shape[-1]
    if weight.dim() != 5 or weight.shape[:2] != (C, 1) or any(
            k % 2 == 0 for k in weight.shape[2:]):
        raise ValueError(f'weight must be ({C}, 1, kt, kh, kw) with odd '
                         f'kernel sizes, got {tuple(weight.shape)}')
    if bias is not None and tuple(bias.shape) != (C, ):
        raise ValueError(f'bias must be ({C},), got {tuple(bias.shape)}')
    why = why_unsupported(x)
    if why is not None:
        raise RuntimeError(f'depthwise_conv_cl (Triton): {why}')
    return _DepthwiseConv.apply(_channels_unit_stride(x), weight, bias)
