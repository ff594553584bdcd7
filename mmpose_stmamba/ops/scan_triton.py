# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Fused multi-order selective scan for STS6D / WSTS (Triton, CUDA).

References:
    * Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State
      Spaces" (2023): the selective scan h_i = exp(dt_i A) h_{i-1}
      + dt_i B_i u_i, y_i = C_i h_i + D u_i.  The backward follows the
      public design of mamba-ssm's CUDA kernel (state-spaces/mamba,
      ``csrc/selective_scan``): chunk-start states are checkpointed in the
      forward pass, each chunk's forward scan is recomputed in the backward
      pass and the adjoint is scanned in reverse.  Written from the
      equations, not copied.
    * Liu et al., "VMamba" (MzeroMiko/VMamba, ``csm_triton.py``): the idea of
      doing the cross-scan (gather of several orders) and the cross-merge as
      index arithmetic inside a Triton kernel instead of permuted copies.
      VMamba only fuses the gather / merge; here the scan itself is fused
      with them.
    * docs/design.md of this repository: token layout, scan orders and the
      ``multi_order_scan`` contract this module implements.

Design (our own; numbers in docs/benchmark.md):
    * One program owns (batch b, a block of BLOCK_D channels) and, in the
      forward kernel, one forward/reverse pair p.  It walks the forward order
      in chunks of CHUNK sequence positions and then the reverse order, so the
      pair's merged output tile (forward + reverse) is written by one program
      with no atomics: the reverse pass adds onto what the forward pass wrote
      (a CTA barrier in between makes those stores visible).
    * Sequence position -> canonical token is integer arithmetic on the
      position (spatial, temporal, unified panorama, tube windows with smaller
      edge windows), so u, delta, B, C are read straight from their canonical
      layout: no permuted copies, u is shared by all K orders.  Orders that
      have no closed form fall back to an int32 permutation table (one load
      per token, shared by the BLOCK_D x N states of that token).
    * Within a chunk the linear recurrence is a ``tl.associative_scan`` over
      (decay, input) pairs; the state (fp32) is carried across chunks.  I/O is
      bf16/fp16/fp32, all arithmetic fp32.  exp(dt*A) is one exp2 per state
      element (A is pre-scaled by log2(e)); dt is per order in the contract,
      so an order and its reverse cannot share it (see docs/benchmark.md).
    * Backward: one program owns (b, channel block) for all K orders, so du
      (u is shared by the orders) is accumulated without atomics.  Per chunk
      it recomputes the forward scan from a checkpointed state and scans the
      adjoint in reverse with a three-term combine that needs no shifted
      copy of the decays.  dB, dC (shared by the channels of an order) are
      reduced over the program's channels and added atomically; dA, dD and
      d(delta_bias) are reduced in registers over the whole sequence first.
"""
import functools
import os
from typing import Optional, Sequence, Tuple, Union

import torch

try:  # Triton ships with CUDA builds of torch; stay importable without it.
    import triton
    import triton.language as tl
    _TRITON_ERROR = None
except ImportError as err:  # pragma: no cover - depends on the install
    triton = None
    tl = None
    _TRITON_ERROR = err

__all__ = ['multi_order_scan_triton', 'is_supported', 'TRITON_AVAILABLE']

TRITON_AVAILABLE = triton is not None

# Order codes used as compile-time constants by the kernels.
_SPATIAL, _TEMPORAL, _UNIFIED, _WINDOW, _TABLE = 0, 1, 2, 3, 4
_CODES = {'spatial': _SPATIAL, 'temporal': _TEMPORAL, 'unified': _UNIFIED,
          'window': _WINDOW}
_MODES = {
    'sts6d': ('unified', 'spatial', 'temporal', 'unified_rev', 'spatial_rev',
              'temporal_rev'),
    'wsts': ('window', 'window_rev'),
}
# The panorama layout scan_orders.py uses by default ('wide_rows': frames
# side by side along the width, read by rows, i.e. (h, t, w)) is walked by
# arithmetic; its other layouts through a permutation table.
_ARITH_UNIFIED_LAYOUTS = ('wide_rows', None)

# Launch parameters: the fastest of the sweep on one H100 (B=32, 6 x 512
# channels, T=5 at 64x48, bf16; docs/benchmark.md).  SEG=1 (a checkpoint
# every chunk) was faster than SEG=4 (565 vs 652 ms fwd+bwd) for 2.1 GiB
# more memory at that size.
FWD_CFG = dict(BLOCK_D=16, CHUNK=32, num_warps=8, TOK_FIRST=True)
# TOK_FIRST in the backward (the forward's winning tile) is exact in the
# interpreter but was not timed on a GPU yet: off until it is.
BWD_CFG = dict(BLOCK_D=8, CHUNK=32, SEG=1, num_warps=4, TOK_FIRST=False)
# Which fused design runs: 'seq' (channel-per-lane kernels of
# scan_triton_seq.py, token after token in each thread) or 'tile' (the
# (chunk, channel, state) tiles above, associative scan).  Environment
# override: STMAMBA_TRITON_KERNEL.  'seq' needs N to be a power of two;
# other N take 'tile'.
KERNEL = 'seq'


if TRITON_AVAILABLE:

    @triton.jit
    def _lin_combine(a1, b1, a2, b2):
        # (a1, b1) is the earlier segment: h -> a2 * (a1 * h + b1) + b2.
        return a1 * a2, a2 * b1 + b2

    @triton.jit
    def _adj_combine(qy, fy, gy, qx, fx, gx):
        # Reverse scan of the adjoint g_i = c_i + a_{i+1} g_{i+1}.  A
        # segment [i..j] is (q = prod a_{i+1..j}, f = a_i, g = g_i seen from
        # inside the segment).  Triton's reverse scan calls the combine with
        # the later segment (y) first, so the earlier segment x comes second.
        qf = qx * fy
        return qf * qy, fx, gx + qf * gy

    @triton.jit
    def _softplus(x):
        # log1p(exp(x)) with an accurate log1p (exp(x) is tiny for the
        # usual dt init) and torch's threshold of 20.
        z = tl.exp(x)
        w = 1.0 + z
        lp = tl.where(w == 1.0, z, tl.log(w) * (z / (w - 1.0)))
        return tl.where(x > 20.0, x, lp)

    @triton.jit
    def _token(pos, perm_ptr, k, L, T, H, W, WH, WW, ORDER: tl.constexpr):
        """Canonical token (t*H*W + h*W + w) visited at forward position."""
        if ORDER == 0:  # spatial: (t, h, w) is the canonical order itself
            tok = pos
        elif ORDER == 1:  # temporal: (h, w, t)
            tok = (pos % T) * (H * W) + pos // T
        elif ORDER == 2:  # unified panorama rows: (h, t, w)
            tok = ((pos // W) % T) * (H * W) + (pos // (W * T)) * W \
                + pos % W
        elif ORDER == 3:  # tube windows (hb, wb, t, h', w'), ragged edges
            row = WH * T * W  # positions in one full band of window rows
            hb = pos // row
            r = pos - hb * row
            hh = tl.minimum(WH, H - hb * WH)  # this band's window height
            col = WW * T * hh  # positions in one full-width window
            wb = r // col
            s = r - wb * col
            ww = tl.minimum(WW, W - wb * WW)
            t = s // (hh * ww)
            s2 = s - t * (hh * ww)
            tok = t * (H * W) + (hb * WH + s2 // ww) * W + wb * WW + s2 % ww
        else:  # any other order: a permutation table (K_fwd, L) of int32
            tok = tl.load(perm_ptr + k * L + pos)
        return tok

    @triton.jit
    def _chunk_inputs(u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d,
                      offs_n, mask_n, bias, su_d, sd_d, sb_n, sc_n,
                      HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
        m2 = mask_d[:, None] & mq[None, :]
        uu = tl.load(u_ptr + offs_d[:, None] * su_d + tok[None, :], mask=m2,
                     other=0.).to(tl.float32)
        raw = tl.load(dl_ptr + offs_d[:, None] * sd_d + tok[None, :],
                      mask=m2, other=0.).to(tl.float32)
        if HAS_BIAS:
            raw = raw + bias[:, None]
        if SOFTPLUS:
            dt = _softplus(raw)
        else:
            dt = raw
        # Padding positions must be the identity step (decay 1, input 0).
        dt = tl.where(m2, dt, 0.)
        mn = mask_n[:, None] & mq[None, :]
        bv = tl.load(b_ptr + offs_n[:, None] * sb_n + tok[None, :], mask=mn,
                     other=0.).to(tl.float32)
        cv = tl.load(c_ptr + offs_n[:, None] * sc_n + tok[None, :], mask=mn,
                     other=0.).to(tl.float32)
        return uu, raw, dt, bv, cv, m2

    @triton.jit
    def _positions(c, L, REV: tl.constexpr, CHUNK: tl.constexpr):
        q = c * CHUNK + tl.arange(0, CHUNK)  # position in this direction
        mq = q < L
        if REV:
            pos = L - 1 - q
        else:
            pos = q
        return tl.where(mq, pos, 0), mq

    @triton.jit
    def _fwd_dir(u_ptr, dl_ptr, b_ptr, c_ptr, out_ptr, ck_ptr, perm_ptr,
                 a2, dsk, bias, offs_d, mask_d, offs_n, mask_n, k, kt,
                 Dm, L, T, H, W, WH, WW, NCH, NSEG,
                 su_d, sd_d, sb_n, sc_n, so_d,
                 N: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
                 SEG: tl.constexpr, ORDER: tl.constexpr, REV: tl.constexpr,
                 HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                 SOFTPLUS: tl.constexpr, SAVE_CK: tl.constexpr):
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        last = tl.arange(0, CHUNK) == CHUNK - 1
        ck_off = offs_d[:, None] * N + offs_n[None, :]
        ck_mask = mask_d[:, None] & mask_n[None, :]
        for c in range(0, NCH):
            if SAVE_CK:
                if c % SEG == 0:
                    tl.store(ck_ptr + (c // SEG) * Dm * N + ck_off, h,
                             mask=ck_mask)
            pos, mq = _positions(c, L, REV, CHUNK)
            tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW, ORDER)
            uu, raw, dt, bv, cv, m2 = _chunk_inputs(
                u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d, offs_n,
                mask_n, bias, su_d, sd_d, sb_n, sc_n, HAS_BIAS, SOFTPLUS)
            a = tl.exp2(dt[:, None, :] * a2[:, :, None])  # (BD, N, CH)
            b = (dt * uu)[:, None, :] * bv[None, :, :]
            ac, bc = tl.associative_scan((a, b), 2, _lin_combine)
            hs = ac * h[:, :, None] + bc
            y = tl.sum(hs * cv[None, :, :], 1)
            if HAS_D:
                y += dsk[:, None] * uu
            h = tl.sum(tl.where(last[None, None, :], hs, 0.), 2)
            optr = out_ptr + offs_d[:, None] * so_d + tok[None, :]
            if REV:  # the forward pass of this pair already wrote the tile
                y += tl.load(optr, mask=m2, other=0.).to(tl.float32)
            tl.store(optr, y.to(out_ptr.dtype.element_ty), mask=m2)

    @triton.jit
    def _fwd_dir_tok_first(u_ptr, dl_ptr, b_ptr, c_ptr, out_ptr, ck_ptr,
                           perm_ptr, a2, dsk, bias, offs_d, mask_d, offs_n,
                           mask_n, k, kt, Dm, L, T, H, W, WH, WW, NCH, NSEG,
                           su_d, sd_d, sb_n, sc_n, so_d,
                           N: tl.constexpr, BLOCK_N: tl.constexpr,
                           BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
                           SEG: tl.constexpr, ORDER: tl.constexpr,
                           REV: tl.constexpr, HAS_D: tl.constexpr,
                           HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                           SAVE_CK: tl.constexpr):
        # Same as _fwd_dir with tiles (CHUNK, BLOCK_D, N): the scanned axis
        # is the slowest one, which Triton's default layout keeps inside a
        # thread (a sequential scan, no shuffles), at the price of a
        # cross-lane reduction over N for y.
        h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        last = tl.arange(0, CHUNK) == CHUNK - 1
        ck_off = offs_d[:, None] * N + offs_n[None, :]
        ck_mask = mask_d[:, None] & mask_n[None, :]
        for c in range(0, NCH):
            if SAVE_CK:
                if c % SEG == 0:
                    tl.store(ck_ptr + (c // SEG) * Dm * N + ck_off, h,
                             mask=ck_mask)
            pos, mq = _positions(c, L, REV, CHUNK)
            tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW, ORDER)
            m2 = mq[:, None] & mask_d[None, :]
            uu = tl.load(u_ptr + offs_d[None, :] * su_d + tok[:, None],
                         mask=m2, other=0.).to(tl.float32)
            raw = tl.load(dl_ptr + offs_d[None, :] * sd_d + tok[:, None],
                          mask=m2, other=0.).to(tl.float32)
            if HAS_BIAS:
                raw = raw + bias[None, :]
            if SOFTPLUS:
                dt = _softplus(raw)
            else:
                dt = raw
            dt = tl.where(m2, dt, 0.)
            mn = mq[:, None] & mask_n[None, :]
            bv = tl.load(b_ptr + offs_n[None, :] * sb_n + tok[:, None],
                         mask=mn, other=0.).to(tl.float32)
            cv = tl.load(c_ptr + offs_n[None, :] * sc_n + tok[:, None],
                         mask=mn, other=0.).to(tl.float32)
            a = tl.exp2(dt[:, :, None] * a2[None, :, :])  # (CH, BD, N)
            b = (dt * uu)[:, :, None] * bv[:, None, :]
            ac, bc = tl.associative_scan((a, b), 0, _lin_combine)
            hs = ac * h[None, :, :] + bc
            y = tl.sum(hs * cv[:, None, :], 2)  # (CH, BD)
            if HAS_D:
                y += dsk[None, :] * uu
            h = tl.sum(tl.where(last[:, None, None], hs, 0.), 0)
            optr = out_ptr + offs_d[None, :] * so_d + tok[:, None]
            if REV:
                y += tl.load(optr, mask=m2, other=0.).to(tl.float32)
            tl.store(optr, y.to(out_ptr.dtype.element_ty), mask=m2)

    @triton.jit
    def _fwd_kernel(u_ptr, dl_ptr, b_ptr, c_ptr, a_ptr, dsk_ptr, bias_ptr,
                    out_ptr, ck_ptr, perm_ptr, k_f, k_r, p,
                    Dm, L, T, H, W, WH, WW, NCH, NSEG, K,
                    su_b, su_d, sd_b, sd_k, sd_d, sb_b, sb_k, sb_n,
                    sc_b, sc_k, sc_n, so_b, so_p, so_d,
                    N: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
                    SEG: tl.constexpr, ORDER: tl.constexpr,
                    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, SAVE_CK: tl.constexpr,
                    TOK_FIRST: tl.constexpr):
        pid_d = tl.program_id(0)
        bb = tl.program_id(1).to(tl.int64)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        mask_d = offs_d < Dm
        offs_n = tl.arange(0, BLOCK_N)
        mask_n = offs_n < N
        u_b = u_ptr + bb * su_b
        out_b = out_ptr + bb * so_b + p * so_p
        for r in tl.static_range(2):
            k = k_f if r == 0 else k_r
            kd = k * Dm + offs_d  # row of A, D, delta_bias
            a2 = tl.load(a_ptr + kd[:, None] * N + offs_n[None, :],
                         mask=mask_d[:, None] & mask_n[None, :],
                         other=0.).to(tl.float32) * 1.4426950408889634
            dsk = tl.zeros((BLOCK_D, ), dtype=tl.float32)
            bias = tl.zeros((BLOCK_D, ), dtype=tl.float32)
            if HAS_D:
                dsk = tl.load(dsk_ptr + kd, mask=mask_d,
                              other=0.).to(tl.float32)
            if HAS_BIAS:
                bias = tl.load(bias_ptr + kd, mask=mask_d,
                               other=0.).to(tl.float32)
            if TOK_FIRST:
                _fwd_dir_tok_first(
                    u_b, dl_ptr + bb * sd_b + k * sd_k,
                    b_ptr + bb * sb_b + k * sb_k,
                    c_ptr + bb * sc_b + k * sc_k, out_b,
                    ck_ptr + (bb * K + k) * NSEG * Dm * N, perm_ptr,
                    a2, dsk, bias, offs_d, mask_d, offs_n, mask_n, k, k_f,
                    Dm, L, T, H, W, WH, WW, NCH, NSEG,
                    su_d, sd_d, sb_n, sc_n, so_d,
                    N, BLOCK_N, BLOCK_D, CHUNK, SEG, ORDER, r == 1,
                    HAS_D, HAS_BIAS, SOFTPLUS, SAVE_CK)
            else:
                _fwd_dir(u_b, dl_ptr + bb * sd_b + k * sd_k,
                         b_ptr + bb * sb_b + k * sb_k,
                         c_ptr + bb * sc_b + k * sc_k, out_b,
                         ck_ptr + (bb * K + k) * NSEG * Dm * N, perm_ptr,
                         a2, dsk, bias, offs_d, mask_d, offs_n, mask_n, k,
                         k_f, Dm, L, T, H, W, WH, WW, NCH, NSEG,
                         su_d, sd_d, sb_n, sc_n, so_d,
                         N, BLOCK_N, BLOCK_D, CHUNK, SEG, ORDER, r == 1,
                         HAS_D, HAS_BIAS, SOFTPLUS, SAVE_CK)
            # The reverse pass reads the tile the forward pass stored.
            tl.debug_barrier()

    @triton.jit
    def _bwd_dir(u_ptr, dl_ptr, b_ptr, c_ptr, dout_ptr, ck_ptr, perm_ptr,
                 scr_ptr, du_ptr, ddl_ptr, db_ptr, dc_ptr, da_ptr, dd_ptr,
                 dbias_ptr, a_nat, dsk, bias, offs_d, mask_d, offs_n, mask_n,
                 kd, kt, Dm, L, T, H, W, WH, WW, NCH, NSEG,
                 su_d, sd_d, sb_n, sc_n, so_d, sdd_d,
                 N: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
                 SEG: tl.constexpr, ORDER: tl.constexpr, REV: tl.constexpr,
                 HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                 SOFTPLUS: tl.constexpr, ACCUM_DU: tl.constexpr):
        a2 = a_nat * 1.4426950408889634
        first = tl.arange(0, CHUNK) == 0
        last = tl.arange(0, CHUNK) == CHUNK - 1
        st_off = offs_d[:, None] * N + offs_n[None, :]
        st_mask = mask_d[:, None] & mask_n[None, :]
        scr_off = (tl.arange(0, BLOCK_D)[:, None] * BLOCK_N
                   + tl.arange(0, BLOCK_N)[None, :])
        s_next = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        da_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        dd_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
        dbias_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
        for si in range(0, NSEG):
            s = NSEG - 1 - si
            h = tl.load(ck_ptr + s * Dm * N + st_off, mask=st_mask, other=0.)
            if SEG > 1:
                # Rebuild the chunk-start states of this segment (the
                # forward pass only kept one state per SEG chunks).
                for j in range(0, SEG):
                    tl.store(scr_ptr + j * BLOCK_D * BLOCK_N + scr_off, h)
                    pos, mq = _positions(s * SEG + j, L, REV, CHUNK)
                    tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW,
                                 ORDER)
                    uu, raw, dt, bv, cv, m2 = _chunk_inputs(
                        u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d,
                        offs_n, mask_n, bias, su_d, sd_d, sb_n, sc_n,
                        HAS_BIAS, SOFTPLUS)
                    a = tl.exp2(dt[:, None, :] * a2[:, :, None])
                    b = (dt * uu)[:, None, :] * bv[None, :, :]
                    ac, bc = tl.associative_scan((a, b), 2, _lin_combine)
                    hs = ac * h[:, :, None] + bc
                    h = tl.sum(tl.where(last[None, None, :], hs, 0.), 2)
                tl.debug_barrier()
            for jj in range(0, SEG):
                j = SEG - 1 - jj
                if SEG > 1:
                    h0 = tl.load(scr_ptr + j * BLOCK_D * BLOCK_N + scr_off)
                else:
                    h0 = h
                pos, mq = _positions(s * SEG + j, L, REV, CHUNK)
                tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW, ORDER)
                uu, raw, dt, bv, cv, m2 = _chunk_inputs(
                    u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d,
                    offs_n, mask_n, bias, su_d, sd_d, sb_n, sc_n, HAS_BIAS,
                    SOFTPLUS)
                dy = tl.load(dout_ptr + offs_d[:, None] * so_d + tok[None, :],
                             mask=m2, other=0.).to(tl.float32)
                bu = dt * uu
                a = tl.exp2(dt[:, None, :] * a2[:, :, None])
                b = bu[:, None, :] * bv[None, :, :]
                ac, bc = tl.associative_scan((a, b), 2, _lin_combine)
                hs = ac * h0[:, :, None] + bc
                cadj = cv[None, :, :] * dy[:, None, :]
                q, f, g = tl.associative_scan((tl.full(a.shape, 1., a.dtype),
                                               a, cadj), 2, _adj_combine,
                                              reverse=True)
                g = g + q * s_next[:, :, None]
                s_next = tl.sum(tl.where(first[None, None, :], a * g, 0.), 2)
                # a_i h_{i-1} = h_i - b_i: no shifted copy of the states.
                ghm = g * (hs - b)
                gb = tl.sum(g * bv[None, :, :], 1)  # (BD, CH)
                ddt = uu * gb + tl.sum(ghm * a_nat[:, :, None], 1)
                da_acc += tl.sum(ghm * dt[:, None, :], 2)
                du = dt * gb
                if HAS_D:
                    du += dsk[:, None] * dy
                    dd_acc += tl.sum(dy * uu, 1)
                if SOFTPLUS:
                    ddt = tl.where(raw > 20.0, ddt,
                                   ddt / (1.0 + tl.exp(-raw)))
                ddt = tl.where(m2, ddt, 0.)
                dbias_acc += tl.sum(ddt, 1)
                tl.store(ddl_ptr + offs_d[:, None] * sdd_d + tok[None, :],
                         ddt.to(ddl_ptr.dtype.element_ty), mask=m2)
                duptr = du_ptr + offs_d[:, None] * L + tok[None, :]
                if ACCUM_DU:
                    du += tl.load(duptr, mask=m2, other=0.)
                tl.store(duptr, du, mask=m2)
                # B and C are shared by all channels of the order: reduce
                # over this program's channels, then add across programs.
                mn = mask_n[:, None] & mq[None, :]
                dcv = tl.sum(hs * dy[:, None, :], 0)  # (N, CH)
                dbv = tl.sum(g * bu[:, None, :], 0)
                tl.atomic_add(dc_ptr + offs_n[:, None] * L + tok[None, :],
                              dcv, mask=mn, sem='relaxed')
                tl.atomic_add(db_ptr + offs_n[:, None] * L + tok[None, :],
                              dbv, mask=mn, sem='relaxed')
        tl.atomic_add(da_ptr + kd[:, None] * N + offs_n[None, :], da_acc,
                      mask=st_mask, sem='relaxed')
        if HAS_D:
            tl.atomic_add(dd_ptr + kd, dd_acc, mask=mask_d, sem='relaxed')
        if HAS_BIAS:
            tl.atomic_add(dbias_ptr + kd, dbias_acc, mask=mask_d,
                          sem='relaxed')

    @triton.jit
    def _chunk_inputs_tf(u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d,
                         mask_d, offs_n, mask_n, bias, su_d, sd_d, sb_n,
                         sc_n, HAS_BIAS: tl.constexpr,
                         SOFTPLUS: tl.constexpr):
        # _chunk_inputs with tiles (CHUNK, BLOCK_D) and (CHUNK, N).
        m2 = mq[:, None] & mask_d[None, :]
        uu = tl.load(u_ptr + offs_d[None, :] * su_d + tok[:, None], mask=m2,
                     other=0.).to(tl.float32)
        raw = tl.load(dl_ptr + offs_d[None, :] * sd_d + tok[:, None],
                      mask=m2, other=0.).to(tl.float32)
        if HAS_BIAS:
            raw = raw + bias[None, :]
        if SOFTPLUS:
            dt = _softplus(raw)
        else:
            dt = raw
        dt = tl.where(m2, dt, 0.)
        mn = mq[:, None] & mask_n[None, :]
        bv = tl.load(b_ptr + offs_n[None, :] * sb_n + tok[:, None], mask=mn,
                     other=0.).to(tl.float32)
        cv = tl.load(c_ptr + offs_n[None, :] * sc_n + tok[:, None], mask=mn,
                     other=0.).to(tl.float32)
        return uu, raw, dt, bv, cv, m2, mn

    @triton.jit
    def _bwd_dir_tok_first(u_ptr, dl_ptr, b_ptr, c_ptr, dout_ptr, ck_ptr,
                           perm_ptr, scr_ptr, du_ptr, ddl_ptr, db_ptr, dc_ptr,
                           da_ptr, dd_ptr, dbias_ptr, a_nat, dsk, bias,
                           offs_d, mask_d, offs_n, mask_n, kd, kt, Dm, L, T,
                           H, W, WH, WW, NCH, NSEG, su_d, sd_d, sb_n, sc_n,
                           so_d, sdd_d, N: tl.constexpr,
                           BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
                           CHUNK: tl.constexpr, SEG: tl.constexpr,
                           ORDER: tl.constexpr, REV: tl.constexpr,
                           HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                           SOFTPLUS: tl.constexpr, ACCUM_DU: tl.constexpr):
        # _bwd_dir with tiles (CHUNK, BLOCK_D, N): the scans run inside
        # threads (see _fwd_dir_tok_first).
        a2 = a_nat * 1.4426950408889634
        first = tl.arange(0, CHUNK) == 0
        last = tl.arange(0, CHUNK) == CHUNK - 1
        st_off = offs_d[:, None] * N + offs_n[None, :]
        st_mask = mask_d[:, None] & mask_n[None, :]
        scr_off = (tl.arange(0, BLOCK_D)[:, None] * BLOCK_N
                   + tl.arange(0, BLOCK_N)[None, :])
        s_next = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        da_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        dd_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
        dbias_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
        for si in range(0, NSEG):
            s = NSEG - 1 - si
            h = tl.load(ck_ptr + s * Dm * N + st_off, mask=st_mask, other=0.)
            if SEG > 1:
                for j in range(0, SEG):
                    tl.store(scr_ptr + j * BLOCK_D * BLOCK_N + scr_off, h)
                    pos, mq = _positions(s * SEG + j, L, REV, CHUNK)
                    tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW,
                                 ORDER)
                    uu, raw, dt, bv, cv, m2, mn = _chunk_inputs_tf(
                        u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d,
                        offs_n, mask_n, bias, su_d, sd_d, sb_n, sc_n,
                        HAS_BIAS, SOFTPLUS)
                    a = tl.exp2(dt[:, :, None] * a2[None, :, :])
                    b = (dt * uu)[:, :, None] * bv[:, None, :]
                    ac, bc = tl.associative_scan((a, b), 0, _lin_combine)
                    hs = ac * h[None, :, :] + bc
                    h = tl.sum(tl.where(last[:, None, None], hs, 0.), 0)
                tl.debug_barrier()
            for jj in range(0, SEG):
                j = SEG - 1 - jj
                if SEG > 1:
                    h0 = tl.load(scr_ptr + j * BLOCK_D * BLOCK_N + scr_off)
                else:
                    h0 = h
                pos, mq = _positions(s * SEG + j, L, REV, CHUNK)
                tok = _token(pos, perm_ptr, kt, L, T, H, W, WH, WW, ORDER)
                uu, raw, dt, bv, cv, m2, mn = _chunk_inputs_tf(
                    u_ptr, dl_ptr, b_ptr, c_ptr, tok, mq, offs_d, mask_d,
                    offs_n, mask_n, bias, su_d, sd_d, sb_n, sc_n, HAS_BIAS,
                    SOFTPLUS)
                dy = tl.load(dout_ptr + offs_d[None, :] * so_d + tok[:, None],
                             mask=m2, other=0.).to(tl.float32)
                bu = dt * uu
                a = tl.exp2(dt[:, :, None] * a2[None, :, :])  # (CH, BD, N)
                b = bu[:, :, None] * bv[:, None, :]
                ac, bc = tl.associative_scan((a, b), 0, _lin_combine)
                hs = ac * h0[None, :, :] + bc
                cadj = cv[:, None, :] * dy[:, :, None]
                q, f, g = tl.associative_scan((tl.full(a.shape, 1., a.dtype),
                                               a, cadj), 0, _adj_combine,
                                              reverse=True)
                g = g + q * s_next[None, :, :]
                s_next = tl.sum(tl.where(first[:, None, None], a * g, 0.), 0)
                ghm = g * (hs - b)
                gb = tl.sum(g * bv[:, None, :], 2)  # (CH, BD)
                ddt = uu * gb + tl.sum(ghm * a_nat[None, :, :], 2)
                da_acc += tl.sum(ghm * dt[:, :, None], 0)
                du = dt * gb
                if HAS_D:
                    du += dsk[None, :] * dy
                    dd_acc += tl.sum(dy * uu, 0)
                if SOFTPLUS:
                    ddt = tl.where(raw > 20.0, ddt,
                                   ddt / (1.0 + tl.exp(-raw)))
                ddt = tl.where(m2, ddt, 0.)
                dbias_acc += tl.sum(ddt, 0)
                tl.store(ddl_ptr + offs_d[None, :] * sdd_d + tok[:, None],
                         ddt.to(ddl_ptr.dtype.element_ty), mask=m2)
                duptr = du_ptr + offs_d[None, :] * L + tok[:, None]
                if ACCUM_DU:
                    du += tl.load(duptr, mask=m2, other=0.)
                tl.store(duptr, du, mask=m2)
                dcv = tl.sum(hs * dy[:, :, None], 1)  # (CH, N)
                dbv = tl.sum(g * bu[:, :, None], 1)
                tl.atomic_add(dc_ptr + offs_n[None, :] * L + tok[:, None],
                              dcv, mask=mn, sem='relaxed')
                tl.atomic_add(db_ptr + offs_n[None, :] * L + tok[:, None],
                              dbv, mask=mn, sem='relaxed')
        tl.atomic_add(da_ptr + kd[:, None] * N + offs_n[None, :], da_acc,
                      mask=st_mask, sem='relaxed')
        if HAS_D:
            tl.atomic_add(dd_ptr + kd, dd_acc, mask=mask_d, sem='relaxed')
        if HAS_BIAS:
            tl.atomic_add(dbias_ptr + kd, dbias_acc, mask=mask_d,
                          sem='relaxed')

    @triton.jit
    def _bwd_kernel(u_ptr, dl_ptr, b_ptr, c_ptr, a_ptr, dsk_ptr, bias_ptr,
                    dout_ptr, ck_ptr, perm_ptr, scr_ptr, du_ptr, ddl_ptr,
                    db_ptr, dc_ptr, da_ptr, dd_ptr, dbias_ptr,
                    Dm, L, T, H, W, WH, WW, NCH, NSEG, K,
                    su_b, su_d, sd_b, sd_k, sd_d, sb_b, sb_k, sb_n,
                    sc_b, sc_k, sc_n, so_b, so_p, so_d,
                    sdd_b, sdd_k, sdd_d,
                    N: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
                    SEG: tl.constexpr, NPAIR: tl.constexpr,
                    ORDERS: tl.constexpr,
                    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, TOK_FIRST: tl.constexpr):
        pid_d = tl.program_id(0)
        bb = tl.program_id(1).to(tl.int64)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        mask_d = offs_d < Dm
        offs_n = tl.arange(0, BLOCK_N)
        mask_n = offs_n < N
        prog = bb * tl.num_programs(0) + pid_d
        scr = scr_ptr + prog * SEG * BLOCK_D * BLOCK_N
        u_b = u_ptr + bb * su_b
        du_b = du_ptr + bb * Dm * L
        for pp in tl.static_range(NPAIR):
            for r in tl.static_range(2):
                k = pp + r * NPAIR
                kd = k * Dm + offs_d
                a_nat = tl.load(a_ptr + kd[:, None] * N + offs_n[None, :],
                                mask=mask_d[:, None] & mask_n[None, :],
                                other=0.).to(tl.float32)
                dsk = tl.zeros((BLOCK_D, ), dtype=tl.float32)
                bias = tl.zeros((BLOCK_D, ), dtype=tl.float32)
                if HAS_D:
                    dsk = tl.load(dsk_ptr + kd, mask=mask_d,
                                  other=0.).to(tl.float32)
                if HAS_BIAS:
                    bias = tl.load(bias_ptr + kd, mask=mask_d,
                                   other=0.).to(tl.float32)
                bk = bb * K + k
                if TOK_FIRST:
                    _bwd_dir_tok_first(
                        u_b, dl_ptr + bb * sd_b + k * sd_k,
                        b_ptr + bb * sb_b + k * sb_k,
                        c_ptr + bb * sc_b + k * sc_k,
                        dout_ptr + bb * so_b + pp * so_p,
                        ck_ptr + bk * NSEG * Dm * N, perm_ptr, scr, du_b,
                        ddl_ptr + bb * sdd_b + k * sdd_k, db_ptr + bk * N * L,
                        dc_ptr + bk * N * L, da_ptr, dd_ptr, dbias_ptr, a_nat,
                        dsk, bias, offs_d, mask_d, offs_n, mask_n, kd, pp, Dm,
                        L, T, H, W, WH, WW, NCH, NSEG, su_d, sd_d, sb_n, sc_n,
                        so_d, sdd_d, N, BLOCK_N, BLOCK_D, CHUNK, SEG,
                        (ORDERS >> (3 * pp)) & 7, r == 1, HAS_D, HAS_BIAS,
                        SOFTPLUS, pp + r > 0)
                else:
                    _bwd_dir(
                        u_b, dl_ptr + bb * sd_b + k * sd_k,
                        b_ptr + bb * sb_b + k * sb_k,
                        c_ptr + bb * sc_b + k * sc_k,
                        dout_ptr + bb * so_b + pp * so_p,
                        ck_ptr + bk * NSEG * Dm * N, perm_ptr, scr, du_b,
                        ddl_ptr + bb * sdd_b + k * sdd_k, db_ptr + bk * N * L,
                        dc_ptr + bk * N * L, da_ptr, dd_ptr, dbias_ptr, a_nat,
                        dsk, bias, offs_d, mask_d, offs_n, mask_n, kd, pp, Dm,
                        L, T, H, W, WH, WW, NCH, NSEG, su_d, sd_d, sb_n, sc_n,
                        so_d, sdd_d, N, BLOCK_N, BLOCK_D, CHUNK, SEG,
                        (ORDERS >> (3 * pp)) & 7, r == 1, HAS_D, HAS_BIAS,
                        SOFTPLUS, pp + r > 0)
                # du is read back by the next order; scratch is reused.
                tl.debug_barrier()


def _expand_orders(orders: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    if isinstance(orders, str):
        if orders not in _MODES:
            raise ValueError(f'orders={orders!r}: expected one of '
                             f'{sorted(_MODES)} or a list of order names')
        return _MODES[orders]
    return tuple(orders)


def _pair_codes(orders: Tuple[str, ...], unified_layout) -> Optional[list]:
    """Order code of each forward/reverse pair, or None if not pairable."""
    k = len(orders)
    if k == 0 or k % 2 or k // 2 > 3:
        return None
    npair = k // 2
    codes = []
    for p in range(npair):
        fwd, rev = orders[p], orders[p + npair]
        if rev != fwd + '_rev' or fwd.endswith('_rev'):
            return None
        code = _CODES.get(fwd, _TABLE)
        if code == _UNIFIED and unified_layout not in _ARITH_UNIFIED_LAYOUTS:
            code = _TABLE
        codes.append(code)
    return codes


def is_supported(u: torch.Tensor,
                 delta: torch.Tensor,
                 A: torch.Tensor,
                 B: torch.Tensor,
                 C: torch.Tensor,
                 D: Optional[torch.Tensor] = None,
                 delta_bias: Optional[torch.Tensor] = None,
                 delta_softplus: bool = True,
                 *,
                 orders: Union[str, Sequence[str]],
                 grid: Sequence[int],
                 window: Sequence[int] = (8, 6),
                 unified_layout: Optional[str] = None,
                 perms: Optional[torch.Tensor] = None,
                 **kwargs) -> bool:
    """Whether the fused kernel can run these inputs.

    It can run CUDA tensors with Triton installed (CPU tensors under
    ``TRITON_INTERPRET=1``), float32/bfloat16/float16 inputs of the shapes
    in the contract, K = 2, 4 or 6 orders given as forward/reverse pairs
    and N <= 64.  Whether ``'auto'`` prefers it to the generic route is the
    dispatcher's decision (:mod:`.multi_scan`).  Extra keyword arguments
    are ignored.
    """
    return _why_unsupported(u, delta, A, B, C, D, delta_bias, orders, grid,
                            window, unified_layout, perms) is None


def _why_unsupported(u, delta, A, B, C, D, delta_bias, orders, grid, window,
                     unified_layout, perms) -> Optional[str]:
    if not TRITON_AVAILABLE:
        return f'triton is not importable ({_TRITON_ERROR})'
    # Triton's interpreter (TRITON_INTERPRET=1) runs the kernels on CPU
    # tensors: that is how the CPU tests exercise them.
    if not u.is_cuda and os.environ.get('TRITON_INTERPRET') != '1':
        return 'inputs are not on a CUDA device'
    floats = (torch.float32, torch.bfloat16, torch.float16)
    for name, t in (('u', u), ('delta', delta), ('B', B), ('C', C)):
        if t.dtype not in floats:
            return f'{name}.dtype={t.dtype} is not float32/bfloat16/float16'
        if t.device != u.device:
            return f'{name} is on {t.device}, u on {u.device}'
    try:
        names = _expand_orders(orders)
    except ValueError as err:
        return str(err)
    codes = _pair_codes(names, unified_layout)
    if codes is None:
        return (f'orders={names!r} are not 1-3 forward/reverse pairs '
                '(f0, f1, .., f0_rev, f1_rev, ..)')
    if u.dim() != 3 or delta.dim() != 4 or B.dim() != 4 or C.dim() != 4:
        return 'expected u (B, Dm, L), delta (B, K, Dm, L), B/C (B, K, N, L)'
    bt, dm, seq = u.shape
    k = len(names)
    n = A.shape[-1]
    t, h, w = grid
    if t * h * w != seq:
        return f'grid={tuple(grid)} does not multiply to L={seq}'
    if tuple(delta.shape) != (bt, k, dm, seq):
        return f'delta.shape={tuple(delta.shape)} != {(bt, k, dm, seq)}'
    for name, t_ in (('B', B), ('C', C)):
        if tuple(t_.shape) != (bt, k, n, seq):
            return f'{name}.shape={tuple(t_.shape)} != {(bt, k, n, seq)}'
    if tuple(A.shape) != (k * dm, n) or n > 64:
        return f'A.shape={tuple(A.shape)}: expected ({k * dm}, N<=64)'
    for name, t_ in (('D', D), ('delta_bias', delta_bias)):
        if t_ is not None and tuple(t_.shape) != (k * dm, ):
            return f'{name}.shape={tuple(t_.shape)} != {(k * dm, )}'
    return None


@functools.lru_cache(maxsize=32)
def _perm_table(names, t, h, w, window, unified_layout, device):
    # Only for orders with no closed form here (e.g. other panoramas):
    # (P, L) int32, read once per token per program.
    from .scan_orders import order_permutation
    layout = unified_layout or 'wide_rows'
    rows = [order_permutation(n, t, h, w, window, layout) for n in names]
    return torch.stack(rows).to(device=device, dtype=torch.int32)


def _last_contig(t: torch.Tensor) -> torch.Tensor:
    # Token stride 1 is what the kernels assume; other strides are free.
    return t if t.stride(-1) == 1 else t.contiguous()


class _MultiOrderScan(torch.autograd.Function):

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, softplus, codes,
                geom, perms):
        u, delta, B, C = map(_last_contig, (u, delta, B, C))
        A = A.contiguous()
        bt, dm, seq = u.shape
        k = delta.shape[1]
        n = A.shape[1]
        npair = k // 2
        cfg = FWD_CFG
        bwd = BWD_CFG
        chunk = cfg['CHUNK']
        # Checkpoint every `every` tokens: the start of each segment of SEG
        # backward chunks, which the backward replays from.
        every = bwd['CHUNK'] * bwd['SEG']
        if every % chunk:
            raise ValueError(f'BWD_CFG CHUNK*SEG={every} must be a multiple '
                             f'of FWD_CFG CHUNK={chunk}')
        save = ctx.needs_input_grad[0] or any(ctx.needs_input_grad[1:7])
        seg = every // chunk  # forward chunks per checkpoint
        nseg = triton.cdiv(seq, every)
        out = torch.empty(bt, npair, dm, seq, dtype=u.dtype, device=u.device)
        ck = (torch.empty(bt, k, nseg, dm, n, dtype=torch.float32,
                          device=u.device) if save else out)
        perm_t = perms if perms is not None else u  # unused when no table
        dummy = A
        t, h, w, wh, ww = geom
        block_n = max(triton.next_power_of_2(n), 2)
        launch = (triton.cdiv(dm, cfg['BLOCK_D']), bt)
        for p in range(npair):
            _fwd_kernel[launch](
                u, delta, B, C, A, D if D is not None else dummy,
                delta_bias if delta_bias is not None else dummy, out, ck,
                perm_t, p, p + npair, p, dm, seq, t, h, w, wh, ww,
                triton.cdiv(seq, chunk), nseg, k, u.stride(0), u.stride(1),
                delta.stride(0), delta.stride(1), delta.stride(2),
                B.stride(0), B.stride(1), B.stride(2), C.stride(0),
                C.stride(1), C.stride(2), out.stride(0), out.stride(1),
                out.stride(2), N=n, BLOCK_N=block_n,
                BLOCK_D=cfg['BLOCK_D'], CHUNK=chunk, SEG=seg,
                ORDER=codes[p], HAS_D=D is not None,
                HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(softplus),
                SAVE_CK=save, TOK_FIRST=bool(cfg.get('TOK_FIRST', False)),
                num_warps=cfg['num_warps'])
        if save:
            ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, ck,
                                  perms)
        ctx.softplus = bool(softplus)
        ctx.codes = codes
        ctx.geom = geom
        ctx.nseg = nseg
        ctx.bwd_cfg = dict(bwd)  # the checkpoints were laid out for it
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, delta_bias, ck, perms = ctx.saved_tensors
        dout = _last_contig(dout)
        bt, dm, seq = u.shape
        k = delta.shape[1]
        n = A.shape[1]
        cfg = ctx.bwd_cfg
        dev = u.device
        f32 = torch.float32
        du = torch.empty(bt, dm, seq, dtype=f32, device=dev)
        ddelta = torch.empty(delta.shape, dtype=delta.dtype, device=dev)
        db = torch.zeros(bt, k, n, seq, dtype=f32, device=dev)
        dc = torch.zeros(bt, k, n, seq, dtype=f32, device=dev)
        da = torch.zeros(k * dm, n, dtype=f32, device=dev)
        dd = torch.zeros(k * dm, dtype=f32, device=dev)
        dbias = torch.zeros(k * dm, dtype=f32, device=dev)
        block_n = max(triton.next_power_of_2(n), 2)
        launch = (triton.cdiv(dm, cfg['BLOCK_D']), bt)
        scr = torch.empty(launch[0] * bt * cfg['SEG'] * cfg['BLOCK_D'] *
                          block_n, dtype=f32, device=dev)
        t, h, w, wh, ww = ctx.geom
        code_word = sum(c << (3 * i) for i, c in enumerate(ctx.codes))
        _bwd_kernel[launch](
            u, delta, B, C, A, D if D is not None else A,
            delta_bias if delta_bias is not None else A, dout, ck,
            perms if perms is not None else u, scr, du, ddelta, db, dc, da,
            dd, dbias, dm, seq, t, h, w, wh, ww,
            triton.cdiv(seq, cfg['CHUNK']), ctx.nseg, k, u.stride(0),
            u.stride(1), delta.stride(0), delta.stride(1), delta.stride(2),
            B.stride(0), B.stride(1), B.stride(2), C.stride(0), C.stride(1),
            C.stride(2), dout.stride(0), dout.stride(1), dout.stride(2),
            ddelta.stride(0), ddelta.stride(1), ddelta.stride(2), N=n,
            BLOCK_N=block_n, BLOCK_D=cfg['BLOCK_D'], CHUNK=cfg['CHUNK'],
            SEG=cfg['SEG'], NPAIR=len(ctx.codes), ORDERS=code_word,
            HAS_D=D is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=ctx.softplus,
            TOK_FIRST=bool(cfg.get('TOK_FIRST', False)),
            num_warps=cfg['num_warps'])
        return (du.to(u.dtype), ddelta, da.to(A.dtype), db.to(B.dtype),
                dc.to(C.dtype), dd.to(D.dtype) if D is not None else None,
                dbias.to(delta_bias.dtype) if delta_bias is not None else None,
                None, None, None, None)


def multi_order_scan_triton(u: torch.Tensor,
                            delta: torch.Tensor,
                            A: torch.Tensor,
                            B: torch.Tensor,
                            C: torch.Tensor,
                            D: Optional[torch.Tensor] = None,
                            delta_bias: Optional[torch.Tensor] = None,
                            delta_softplus: bool = True,
                            *,
                            orders: Union[str, Sequence[str]],
                            grid: Sequence[int],
                            window: Sequence[int] = (8, 6),
                            unified_layout: Optional[str] = None,
                            perms: Optional[torch.Tensor] = None,
                            **kwargs) -> torch.Tensor:
    """Fused gather -> grouped selective scan -> inverse gather -> pair sum.

    Same result as the generic ``multi_order_scan`` (docs/design.md) without
    materialising any permuted copy.  Differentiable with respect to u,
    delta, A, B, C, D and delta_bias.

    Args:
        u (Tensor): (B, Dm, L) features in canonical (t, h, w) token order,
            shared by all K orders.
        delta (Tensor): (B, K, Dm, L) per-order step sizes (before
            ``delta_bias`` and softplus), canonical layout.
        A (Tensor): (K*Dm, N) state matrix (diagonal per channel), fp32.
        B (Tensor): (B, K, N, L) input projections, canonical layout.
        C (Tensor): (B, K, N, L) output projections, canonical layout.
        D (Tensor, optional): (K*Dm,) skip weights. Defaults to None.
        delta_bias (Tensor, optional): (K*Dm,) added to delta. Defaults to
            None.
        delta_softplus (bool): Apply softplus to delta + delta_bias.
            Defaults to True.
        orders (str | Sequence[str]): ``'sts6d'``, ``'wsts'`` or the K order
            names ``(f0, .., fP-1, f0_rev, .., fP-1_rev)``.
        grid (Sequence[int]): (T, H, W) with T*H*W = L.
        window (Sequence[int]): (wh, ww) tube window of the ``window``
            order. Defaults to (8, 6).
        unified_layout (str, optional): panorama layout of ``unified``
            (:data:`~.scan_orders.UNIFIED_LAYOUTS`); ``'wide_rows'`` (=
            None) is walked by arithmetic, the others through a table from
            :mod:`.scan_orders`. Defaults to None.
        perms (Tensor, optional): (P, L) forward permutations of the P
            pairs (perm[i] is the canonical token at position i) to use
            instead of arithmetic. Defaults to None.

    Returns:
        Tensor: (B, P, Dm, L) in u's dtype, canonical layout; pair p is the
        sum of order p and its reverse.
    """
    why = _why_unsupported(u, delta, A, B, C, D, delta_bias, orders, grid,
                           window, unified_layout, perms)
    if why is not None:
        raise RuntimeError(f'multi_order_scan_triton: {why}')
    names = _expand_orders(orders)
    codes = _pair_codes(names, unified_layout)
    t, h, w = (int(x) for x in grid)
    wh, ww = (int(x) for x in window)
    if perms is not None:  # the caller's tables win over arithmetic
        codes = [_TABLE] * len(codes)
    elif _TABLE in codes:
        perms = _perm_table(names[:len(codes)], t, h, w, (wh, ww),
                            unified_layout, u.device)
    if perms is not None:
        perms = perms.to(device=u.device, dtype=torch.int32).contiguous()
    n = A.shape[-1]
    if _kernel_name() == 'seq' and n & (n - 1) == 0:
        # Every order through a table here (see scan_triton_seq._visit).
        from .scan_triton_seq import MultiOrderScanSeq
        if perms is None:
            perms = _perm_table(names[:len(codes)], t, h, w, (wh, ww),
                                unified_layout, u.device)
        return MultiOrderScanSeq.apply(u, delta, A, B, C, D, delta_bias,
                                       delta_softplus, perms)
    return _MultiOrderScan.apply(u, delta, A, B, C, D, delta_bias,
                                 delta_softplus, codes, (t, h, w, wh, ww),
                                 perms)


def _kernel_name() -> str:
    name = os.environ.get('STMAMBA_TRITON_KERNEL', KERNEL)
    if name not in ('seq', 'tile'):
        raise ValueError(f'STMAMBA_TRITON_KERNEL={name!r}: expected '
                         "'seq' or 'tile'")
    return name


def scan_flops(batch: int, k: int, dm: int, n: int, seq: int) -> dict:
    """Work of one forward call, for benchmarks and FLOP counters.

    Returns:
        dict: ``exp`` (exp evaluations: one per state element, plus the
        softplus), ``flop`` (multiply-adds counted as 2) and ``states``.
    """
    states = batch * k * dm * n * seq
    # dt*A, exp, a*h+b (2), C*h accumulate (2), dt*u*B (2 per state/token).
    return dict(states=states, exp=states + 2 * batch * k * dm * seq,
                flop=7 * states)
