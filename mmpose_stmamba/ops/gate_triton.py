# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""The gate's LayerNorm, SiLU and product in one pass (Triton, CUDA).

The op (:func:`gated_norm_silu`), for channels-last tokens c, y (..., C)::

    out = y * silu(layer_norm(c, weight, bias, eps))

the end of the GSM / LRM block's gate stream times the merged scans
(``SpaceTimeMambaBlock._gated``).  Why: under bf16 autocast PyTorch runs
that as a cast of c to fp32, LayerNorm (fp32 output), SiLU (fp32), the
product (fp32) and a cast for the output projection, and autograd keeps
LayerNorm's fp32 input and output and the fp32 gate for the backward:
~1.1 GB of the GSM block's 7.6 at GLSMamba-B's size and batch 32
(docs/benchmark.md, run 27), and five kernels each way.  This op keeps
c and y in their own dtype plus two fp32 numbers per token (mean,
1 / std) and recomputes the rest in the backward.  Importing this module
needs Triton.

Design:
    * Forward: a program owns BLOCK_M tokens, all C channels (padded to a
      power of two) in registers; fp32 statistics and arithmetic; the
      output is written once, in the autocast dtype where autocast is on
      (what the output projection casts it to anyway), else in the
      promoted dtype of y and c.
    * Backward: a fixed number of programs walk the token blocks; each
      recomputes the normalised c and the gate from the saved mean and
      1 / std, writes dy and dc and adds its tokens' weight and bias
      gradients into its own fp32 slot (no atomics); torch sums the slots.
      LayerNorm's input gradient is ``rstd * (dn - mean(dn) - n *
      mean(dn * n))`` with dn the gradient of the normalised c.
"""
import torch
import triton
import triton.language as tl

from ._triton_support import why_unsupported

__all__ = ['gated_norm_silu', 'why_unsupported', 'MAX_CHANNELS']

#: Widest C held in registers (one token's channels per row of a tile).
MAX_CHANNELS = 8192
#: Elements of a program's (tokens, channels) tile, forward / backward,
#: and the backward's programs (each with its own gradient slot).
FWD_TILE = 4096
BWD_TILE = 2048
BWD_PROGRAMS = 1024


@triton.jit
def _normed(c_ptr, w_ptr, b_ptr, rows, offs_c, mask, C, sc, eps,
            STATS: tl.constexpr, mean_ptr, rstd_ptr, offs_m, mask_m):
    """(n, a, sigmoid(a), mean, rstd) of a token tile: n the normalised c,
    a = n * weight + bias.  STATS: compute mean and 1 / std (else load
    them)."""
    c = tl.load(c_ptr + rows[:, None] * sc + offs_c[None, :], mask=mask,
                other=0.).to(tl.float32)
    if STATS:
        mean = tl.sum(c, axis=1) / C
        diff = tl.where(mask, c - mean[:, None], 0.)
        rstd = 1. / tl.sqrt(tl.sum(diff * diff, axis=1) / C + eps)
    else:
        mean = tl.load(mean_ptr + offs_m, mask=mask_m, other=0.)
        rstd = tl.load(rstd_ptr + offs_m, mask=mask_m, other=0.)
        diff = tl.where(mask, c - mean[:, None], 0.)
    n = diff * rstd[:, None]
    mc = offs_c < C
    w = tl.load(w_ptr + offs_c, mask=mc, other=0.).to(tl.float32)
    b = tl.load(b_ptr + offs_c, mask=mc, other=0.).to(tl.float32)
    a = n * w[None, :] + b[None, :]
    s = 1. / (1. + tl.exp2(-a * 1.4426950408889634))
    return n, a, s, mean, rstd, w


@triton.jit
def _gate_fwd_kernel(c_ptr, y_ptr, w_ptr, b_ptr, out_ptr, mean_ptr,
                     rstd_ptr, M, C, sc, sy, eps, BLOCK_M: tl.constexpr,
                     BLOCK_C: tl.constexpr):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_c = tl.arange(0, BLOCK_C)
    mask_m = offs_m < M
    mask = mask_m[:, None] & (offs_c < C)[None, :]
    rows = offs_m.to(tl.int64)
    n, a, s, mean, rstd, w = _normed(c_ptr, w_ptr, b_ptr, rows, offs_c,
                                     mask, C, sc, eps, True, mean_ptr,
                                     rstd_ptr, offs_m, mask_m)
    y = tl.load(y_ptr + rows[:, None] * sy + offs_c[None, :], mask=mask,
                other=0.).to(tl.float32)
    tl.store(out_ptr + rows[:, None] * C + offs_c[None, :],
             (y * a * s).to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + offs_m, mean, mask=mask_m)
    tl.store(rstd_ptr + offs_m, rstd, mask=mask_m)


@triton.jit
def _gate_bwd_kernel(c_ptr, y_ptr, w_ptr, b_ptr, g_ptr, mean_ptr, rstd_ptr,
                     dc_ptr, dy_ptr, part_ptr, M, C, sc, sy, sg,
                     BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr):
    # part: (programs, 2, C) fp32: this program's weight and bias
    # gradients.  dc, dy: (M, C) contiguous.
    pid = tl.program_id(0)
    offs_c = tl.arange(0, BLOCK_C)
    mc = offs_c < C
    dw = tl.zeros((BLOCK_C, ), dtype=tl.float32)
    db = tl.zeros((BLOCK_C, ), dtype=tl.float32)
    for blk in range(pid, tl.cdiv(M, BLOCK_M), tl.num_programs(0)):
        offs_m = blk * BLOCK_M + tl.arange(0, BLOCK_M)
        mask_m = offs_m < M
        mask = mask_m[:, None] & mc[None, :]
        rows = offs_m.to(tl.int64)
        n, a, s, mean, rstd, w = _normed(c_ptr, w_ptr, b_ptr, rows, offs_c,
                                         mask, C, sc, 0., False, mean_ptr,
                                         rstd_ptr, offs_m, mask_m)
        y = tl.load(y_ptr + rows[:, None] * sy + offs_c[None, :], mask=mask,
                    other=0.).to(tl.float32)
        g = tl.load(g_ptr + rows[:, None] * sg + offs_c[None, :], mask=mask,
                    other=0.).to(tl.float32)
        cell = rows[:, None] * C + offs_c[None, :]
        tl.store(dy_ptr + cell, (g * a * s).to(dy_ptr.dtype.element_ty),
                 mask=mask)
        # d silu(a) / da = s (1 + a (1 - s))
        da = g * y * s * (1. + a * (1. - s))
        dw += tl.sum(da * n, axis=0)
        db += tl.sum(da, axis=0)
        dn = da * w[None, :]
        mdn = tl.sum(dn, axis=1) / C
        mdnn = tl.sum(dn * n, axis=1) / C
        dc = rstd[:, None] * (dn - mdn[:, None] - n * mdnn[:, None])
        tl.store(dc_ptr + cell, dc.to(dc_ptr.dtype.element_ty), mask=mask)
    base = part_ptr + pid.to(tl.int64) * 2 * C + offs_c
    tl.store(base, dw, mask=mc)
    tl.store(base + C, db, mask=mc)


def _rows(x):
    """x (..., C) as (M, C) rows with channel stride 1 (a view where the
    leading dimensions collapse, else a copy)."""
    rows = x.reshape(-1, x.shape[-1])
    return rows if rows.stride(-1) == 1 else rows.contiguous()


def _tile(total, c):
    block_c = triton.next_power_of_2(c)
    return max(1, total // block_c), block_c, 8 if block_c >= 2048 else 4


class _GatedNormSiLU(torch.autograd.Function):
    """Autograd wrapper of the kernels (see the module docstring)."""

    @staticmethod
    def forward(ctx, y, c, weight, bias, eps, out_dtype):
        shape = c.shape
        c2, y2 = _rows(c), _rows(y)
        M, C = c2.shape
        out = torch.empty(M, C, device=c.device, dtype=out_dtype)
        mean = torch.empty(M, device=c.device, dtype=torch.float32)
        rstd = torch.empty_like(mean)
        block_m, block_c, warps = _tile(FWD_TILE, C)
        _gate_fwd_kernel[(triton.cdiv(M, block_m), )](
            c2, y2, weight, bias, out, mean, rstd, M, C, c2.stride(0),
            y2.stride(0), eps, BLOCK_M=block_m, BLOCK_C=block_c,
            num_warps=warps)
        ctx.save_for_backward(c2, y2, weight, bias, mean, rstd)
        ctx.meta = (shape, y.dtype, c.dtype)
        return out.view(shape)

    @staticmethod
    def backward(ctx, dout):
        c2, y2, weight, bias, mean, rstd = ctx.saved_tensors
        shape, y_dtype, c_dtype = ctx.meta
        g2 = _rows(dout)
        M, C = c2.shape
        dc = torch.empty(M, C, device=c2.device, dtype=c_dtype)
        dy = torch.empty(M, C, device=c2.device, dtype=y_dtype)
        block_m, block_c, warps = _tile(BWD_TILE, C)
        programs = max(1, min(BWD_PROGRAMS, triton.cdiv(M, block_m)))
        part = torch.empty(programs, 2, C, device=c2.device,
                           dtype=torch.float32)
        _gate_bwd_kernel[(programs, )](
            c2, y2, weight, bias, g2, mean, rstd, dc, dy, part, M, C,
            c2.stride(0), y2.stride(0), g2.stride(0), BLOCK_M=block_m,
            BLOCK_C=block_c, num_warps=warps)
        sums = part.sum(dim=0)
        return (dy.view(shape), dc.view(shape), sums[0].to(weight.dtype),
                sums[1].to(bias.dtype), None, None)


def gated_norm_silu(y: torch.Tensor, c: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``y * silu(layer_norm(c))`` over the last dimension, fused.

    Differentiable with respect to y, c, weight and bias.

    Args:
        y (Tensor): (..., C), fp32 / bf16 / fp16, channel stride 1 or
            copied.
        c (Tensor): (..., C), the same shape: LayerNorm's input.
        weight (Tensor): (C,) LayerNorm weight.
        bias (Tensor): (C,) LayerNorm bias.
        eps (float): LayerNorm's epsilon. Defaults to 1e-5.

    Returns:
        Tensor: (..., C) contiguous, in the autocast dtype where autocast
        is enabled on c's device type, else in ``torch.promote_types`` of
        y's and c's dtypes.  Arithmetic in fp32.
    """
    if y.shape != c.shape or c.dim() < 1:
        raise ValueError(f'y {tuple(y.shape)} and c {tuple(c.shape)} must '
                         'have one shape (..., C)')
    C = c.shape[-1]
    for name, t in (('weight', weight), ('bias', bias)):
        if t is None or tuple(t.shape) != (C, ):
            got = None if t is None else tuple(t.shape)
            raise ValueError(f'{name} must be ({C},), got {got}')
    if C > MAX_CHANNELS:
        raise ValueError(f'C={C} > {MAX_CHANNELS}: use the torch path')
    for t in (y, c):
        why = why_unsupported(t)
        if why is not None:
            raise RuntimeError(f'gated_norm_silu (Triton): {why}')
    kind = c.device.type
    out_dtype = (torch.get_autocast_dtype(kind)
                 if torch.is_autocast_enabled(kind) else
                 torch.promote_types(y.dtype, c.dtype))
    return _GatedNormSiLU.apply(y, c, weight, bias, float(eps), out_dtype)
