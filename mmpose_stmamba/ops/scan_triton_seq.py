# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Fused multi-order selective scan: the Triton kernels (channel per lane).

Called by :func:`.scan_triton.multi_order_scan_triton` (which checks the
inputs and builds the permutation table); the autograd function is
:class:`MultiOrderScanSeq`.  Importing this module needs Triton.

References:
    * Gu & Dao, "Mamba" (2023): the selective scan and its adjoint.  Like
      mamba-ssm's kernel (``csrc/selective_scan``), chunk-start states are
      checkpointed and each chunk is recomputed in the backward pass;
      unlike it, the scan runs token after token inside each thread, with
      the channels spread over the lanes.  Written from the equations.
    * docs/benchmark.md, run 6: why (the first, tile kernels spent ~47
      instructions per state element on Triton's associative scan,
      reductions and layout conversions; the floor needs ~6 per exp).

Design:
    * Tiles are (N, BLOCK_D) with the channels on the lanes and the N states
      of a channel inside one thread (or split over two/four lanes when
      BLOCK_D is smaller than 32 * num_warps): the recurrence
      h = exp2(dt*A') h + dt u B is a handful of FMAs per state, token after
      token, and y = C.h is a sum inside the thread.  No associative scan.
    * Tokens are visited through a (pairs, L) int32 permutation table (one
      launch serves all pairs); u, delta, dout are read at the visited token
      through their strides (channels-last inputs, channel stride 1, make
      every per-token load one coalesced row; any strides work).  B and C
      are copied once into token-major fp32 (B, K, L, N): one 64-byte row
      per token, no conversions.
    * Forward: a program owns (batch, BLOCK_D channels, one forward/reverse
      pair), runs the forward order then the reverse one and adds the
      latter onto the stored output (one writer per element, no atomics).
      Every CHUNK*SEG tokens the fp32 state is checkpointed.
    * Backward: a program owns (batch, BLOCK_D channels, one order).  Per
      segment it replays the forward from the checkpoint to get its chunk
      starts (kept in a small scratch buffer), then per chunk, last first,
      recomputes the CHUNK states (kept in registers) and walks them
      backwards with the adjoint.  du (shared by the orders) and dB/dC
      (shared by the channels) are added atomically in fp32, dB/dC after a
      reduce-scatter over the lanes (both in one, ``_scatter_pair``, where
      a warp holds 32 channels and N >= 16; else each in its own,
      ``_sum_over_lanes``); dA, dD and
      d(delta_bias) are reduced in registers first.  Its registers are
      capped (``maxnreg`` in SEQ_BWD_CFG) for occupancy.
    * Both kernels load a chunk's inputs before computing and storing it
      (``_chunk_inputs``): written per token, each token's loads waited for
      the previous token's stores (which may alias them), ~1,700 cycles of
      exposed latency per token on an H100 (docs/benchmark.md, run 11).
    * SEQ_PARTS splits the sequence into parts scanned in parallel (a
      two-level scan) for small batches; see its comment.
"""
import json
import os

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

LOG2E = 1.4426950408889634


@triton.jit
def _log1p_unit(z, FAST: tl.constexpr):
    """log1p(z) for z in [0, 1] (relative error ~1e-7): six terms of its
    series below 1/16, log2(1 + z) above, where rounding 1 + z costs at
    most 2^-24 / 0.06 relatively.  FAST: log2 on the special-function unit
    (lg2.approx, absolute error ~2^-22); else Triton's log2 (a polynomial of
    ~20 instructions, and what Triton's interpreter runs)."""
    if FAST:
        l2 = libdevice.fast_log2f(1.0 + z)
    else:
        l2 = tl.log2(1.0 + z)
    s = z * (1. + z * (-1. / 2 + z * (1. / 3 + z * (-1. / 4 + z * (
        1. / 5 - z * (1. / 6))))))
    return tl.where(z < 0.0625, s, l2 * 0.6931471805599453)


@triton.jit
def _softplus(x, FAST: tl.constexpr):
    """max(x, 0) + log1p(exp(-|x|)): torch's softplus (whose threshold
    20 changes nothing in fp32: log1p(exp(-20)) ~ 2e-9), ~16 instructions
    with FAST instead of ~57 with an exp, a log and a division (sm_90)."""
    z = tl.exp2(-tl.abs(x) * 1.4426950408889634)
    return tl.maximum(x, 0.) + _log1p_unit(z, FAST)


@triton.jit
def _sigmoid(x, FAST: tl.constexpr):
    # d softplus / dx; exp2(-|x|) is the softplus's (the compiler shares it).
    z = tl.exp2(-tl.abs(x) * 1.4426950408889634)
    num = tl.where(x >= 0., 1., z)
    if FAST:
        return libdevice.fast_dividef(num, 1.0 + z)
    else:
        return num / (1.0 + z)


@triton.jit
def _visit(q, L, LP, rev, perm_ptr, p, MASK_L: tl.constexpr):
    """(token, valid) visited at step q of pair p's order (rev: 0/1).

    Both directions walk LP >= L steps (a whole number of checkpoint
    segments); the forward one pads at its end, the reverse one at its
    start (position LP - 1 - q), so that step segments of the two
    directions cover the same positions (see ``SEQ_PARTS``).  The canonical
    token comes from the pair's row of the permutation table (one uniform
    load per token, L1/L2-resident): cheaper here than the integer
    divisions of the closed forms with run-time divisors.
    """
    pos = tl.where(rev == 1, LP - 1 - q, q)
    if MASK_L:
        valid = pos < L
        pos = tl.where(valid, pos, 0)
    else:  # no padding steps: a constant mask, which the compiler drops
        valid = tl.full((), 1, tl.int1)
    return tl.load(perm_ptr + p * L + pos), valid


@triton.jit
def _channel_mask(offs_d, Dm, BLOCK_D: tl.constexpr, MASK_D: tl.constexpr):
    """offs_d < Dm, or (MASK_D False: Dm a multiple of BLOCK_D) a constant
    True, so that the compiler drops the masks of the loads and stores
    (one predicate instruction per masked load in sm_90 SASS)."""
    if MASK_D:
        return offs_d < Dm
    else:
        return tl.full((BLOCK_D, ), 1, tl.int1)


@triton.jit
def _row(x, offs_n, n: tl.constexpr):
    # Row n of an (N, BLOCK_D) tile: a sum inside each thread.
    return tl.sum(tl.where(offs_n[:, None] == n, x, 0.), 0)


@triton.jit
def _half(v, M: tl.constexpr, D: tl.constexpr, hi: tl.constexpr):
    # Rows [hi * M/2, (hi + 1) * M/2) of v (M, D): a choice of registers.
    v3 = tl.reshape(v, (2, M // 2, D))
    return tl.sum(tl.where(tl.arange(0, 2)[:, None, None] == hi, v3, 0.), 0)


@triton.jit
def _halve(v, lanes, M: tl.constexpr, D: tl.constexpr, H: tl.constexpr):
    """One reduce-scatter step over lane bit H: v[:, d] + v[:, d ^ H] for
    all M rows (one butterfly shuffle each), of which lane d keeps the
    upper half of the rows if its bit H is set, else the lower half."""
    v4 = tl.reshape(v, (M, D // (2 * H), 2, H))
    t = tl.sum(v4, 2)
    t = tl.reshape(tl.broadcast_to(t[:, :, None, :], (M, D // (2 * H), 2, H)),
                   (M, D))
    upper = ((lanes // H) % 2)[None, :] == 1
    return tl.where(upper, _half(t, M, D, 1), _half(t, M, D, 0))


@triton.jit
def _sum_over_lanes(x, N: tl.constexpr, D: tl.constexpr):
    """``tl.sum(x, 1)`` of an (N, D) tile with D on the lanes, N <= D, both
    powers of two, by a reduce-scatter: one shuffle per row still held at
    each halving step (N + N/2 + ... + 2), then one butterfly over the
    remaining lane bits, instead of log2(D) shuffles for each of the N rows
    (31 instead of 80 at N = 16, D = 32; sm_90 SASS).
    Adds in a different order than tl.sum (fp32 rounding only)."""
    lanes = tl.arange(0, D)
    v = x
    if N >= 2:
        v = _halve(v, lanes, N, D, D // 2)
    if N >= 4:
        v = _halve(v, lanes, N // 2, D, D // 4)
    if N >= 8:
        v = _halve(v, lanes, N // 4, D, D // 8)
    if N >= 16:
        v = _halve(v, lanes, N // 8, D, D // 16)
    if N >= 32:
        v = _halve(v, lanes, N // 16, D, D // 32)
    if N >= 64:
        v = _halve(v, lanes, N // 32, D, D // 64)
    return tl.sum(tl.reshape(v, (N, D // N)), 1)


@triton.jit
def _lane_xor(x, lanes, M: tl.constexpr, D: tl.constexpr, H: tl.constexpr,
              SHFL: tl.constexpr):
    """x[:, d ^ H] of an (M, D) tile whose D = 32 columns are the lanes of
    one warp.  SHFL: one ``shfl.sync.bfly`` per register (inline PTX,
    compiled kernels only; ptxas folds the constant lane offset into the
    instruction); else the same values by register selection and sums
    with zeros (exact: what Triton's interpreter runs)."""
    if SHFL:
        return tl.inline_asm_elementwise(
            'shfl.sync.bfly.b32 $0, $1, $2, 0x1f, -1;', '=f,f,r',
            [x, tl.full(x.shape, H, tl.int32)], dtype=tl.float32,
            is_pure=True, pack=1)
    else:
        x4 = tl.reshape(x, (M, D // (2 * H), 2, H))
        side = tl.arange(0, 2)[None, None, :, None]
        lo = tl.sum(tl.where(side == 0, x4, 0.), 2)[:, :, None, :]
        hi = tl.sum(tl.where(side == 1, x4, 0.), 2)[:, :, None, :]
        shape: tl.constexpr = (M, D // (2 * H), 2, H)
        lo = tl.reshape(tl.broadcast_to(lo, shape), (M, D))
        hi = tl.reshape(tl.broadcast_to(hi, shape), (M, D))
        return tl.where(((lanes // H) % 2)[None, :] == 1, lo, hi)


@triton.jit
def _scatter_step(v, lanes, base, M: tl.constexpr, D: tl.constexpr,
                  H: tl.constexpr, SHFL: tl.constexpr):
    """One reduce-scatter step over lane bit H of an (M, D) tile: each lane
    keeps half of the rows (the upper half if its bit H is set) and adds
    its partner's copy of them, sending only the other half (M / 2
    shuffles).  base: the first kept row, per lane."""
    bit = (lanes // H) % 2 == 1
    upper = bit[None, :]
    lo = _half(v, M, D, 0)
    hi = _half(v, M, D, 1)
    keep = tl.where(upper, hi, lo)
    sent = tl.where(upper, lo, hi)
    base = base + tl.where(bit, M // 2, 0)
    return keep + _lane_xor(sent, lanes, M // 2, D, H, SHFL), base


@triton.jit
def _scatter_pair(x, y, lanes, N: tl.constexpr, SHFL: tl.constexpr):
    """Channel sums of two (N, 32) tiles (one channel per lane, N >= 16 a
    power of two), reduce-scattered: lane d ends with N / 16 consecutive
    rows of y's sums (d >= 16) or x's (d < 16), starting at the returned
    row.  31 shuffles at N = 16 for both tiles, where ``_sum_over_lanes``
    takes 31 for each: lanes exchange only the rows they give away."""
    upper = (lanes >= 16)[None, :]
    v = (tl.where(upper, y, x)
         + _lane_xor(tl.where(upper, x, y), lanes, N, 32, 16, SHFL))
    base = tl.zeros_like(lanes)
    v, base = _scatter_step(v, lanes, base, N, 32, 8, SHFL)
    v, base = _scatter_step(v, lanes, base, N // 2, 32, 4, SHFL)
    v, base = _scatter_step(v, lanes, base, N // 4, 32, 2, SHFL)
    v, base = _scatter_step(v, lanes, base, N // 8, 32, 1, SHFL)
    return v, base


@triton.jit
def _channel_sum(x, N: tl.constexpr, BLOCK_D: tl.constexpr):
    # (N,) sums over the channels of an (N, BLOCK_D) tile.
    if N <= BLOCK_D and N <= 64:
        return _sum_over_lanes(x, N, BLOCK_D)
    else:
        return tl.sum(x, 1)


@triton.jit
def _load_rows(ptr, row_stride, offs_n, offs_d, mask_d, N: tl.constexpr):
    """(N, BLOCK_D) tile from N row loads.

    The 2-D tiles (states, A) are only ever touched row by row: a 2-D
    access with channels contiguous would let Triton vectorise along the
    channels and spread each channel's N states over four lanes, which the
    per-token recurrence pays for with shuffles on every step.
    """
    x = tl.zeros((N, offs_d.shape[0]), dtype=tl.float32)
    for n in tl.static_range(N):
        r = tl.load(ptr + n * row_stride + offs_d, mask=mask_d, other=0.)
        x = tl.where(offs_n[:, None] == n, r[None, :], x)
    return x


@triton.jit
def _store_rows(ptr, row_stride, x, offs_n, offs_d, mask_d,
                N: tl.constexpr):
    for n in tl.static_range(N):
        tl.store(ptr + n * row_stride + offs_d, _row(x, offs_n, n),
                 mask=mask_d)


@triton.jit
def _order_params(at_ptr, dsk_ptr, bias_ptr, k, Dm, KD, offs_n, offs_d,
                  mask_d, N: tl.constexpr, HAS_D: tl.constexpr,
                  HAS_BIAS: tl.constexpr):
    """Order k's A (natural), D and delta_bias for this channel block.

    A is passed transposed, (N, K*Dm): a coalesced row per state.
    """
    kd = k * Dm + offs_d
    a_nat = _load_rows(at_ptr + k * Dm, KD, offs_n, offs_d, mask_d, N)
    dsk = tl.zeros((offs_d.shape[0], ), dtype=tl.float32)
    bias = tl.zeros((offs_d.shape[0], ), dtype=tl.float32)
    if HAS_D:
        dsk = tl.load(dsk_ptr + kd, mask=mask_d, other=0.)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + kd, mask=mask_d, other=0.)
    return a_nat, dsk, bias


@triton.jit
def _advance(h, a2, dt, uu, bv):
    # h_i = exp(dt_i A) h_{i-1} + dt_i u_i B_i, A pre-scaled by log2(e).
    return tl.exp2(dt[None, :] * a2) * h + bv[:, None] * (dt * uu)[None, :]


@triton.jit
def _step_dt(dl_ptr, tok, md, offs_d, bias, sd_d, sd_l,
             HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(delta + bias, dt) at a visited token; dt = 0 on padding steps
    (decay 1, input 0)."""
    raw = tl.load(dl_ptr + tok * sd_l + offs_d * sd_d, mask=md,
                  other=0.).to(tl.float32)
    if HAS_BIAS:
        raw = raw + bias
    if SOFTPLUS:
        dt = _softplus(raw, SOFTPLUS == 2)
    else:
        dt = raw
    return raw, tl.where(md, dt, 0.)


@triton.jit
def _state_row(ptr, offs_n, valid, VEC: tl.constexpr):
    """An (N,) fp32 row (B or C at one token), every lane the same.

    VEC: four 16-byte loads (``ld.global.nc.v4``, inline PTX) instead of
    the N 4-byte loads Triton emits for this layout (where each thread
    holds all N values as repetitions, not as one contiguous run).  Only
    for compiled kernels in which each thread holds the whole row
    (BLOCK_D == 32 * num_warps), N a multiple of 4, no padding steps (no
    mask), rows 16-byte aligned (fp32 rows of N from an aligned base), and
    read-only memory: the host decides (``_vector_rows``)."""
    if VEC:
        return tl.inline_asm_elementwise(
            'ld.global.nc.v4.f32 {$0, $1, $2, $3}, [$4];',
            '=f,=f,=f,=f,l,l,l,l', [ptr + offs_n], dtype=tl.float32,
            is_pure=True, pack=4)
    else:
        return tl.load(ptr + offs_n, mask=valid, other=0.)


@triton.jit
def _step_inputs(u_ptr, dl_ptr, b_ptr, c_ptr, tok, valid, offs_d, mask_d,
                 offs_n, bias, su_d, su_l, sd_d, sd_l, N: tl.constexpr,
                 HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                 VEC: tl.constexpr):
    # B and C: token-major (L, N) fp32 rows of this (batch, order).
    md = mask_d & valid
    uu = tl.load(u_ptr + tok * su_l + offs_d * su_d, mask=md,
                 other=0.).to(tl.float32)
    raw, dt = _step_dt(dl_ptr, tok, md, offs_d, bias, sd_d, sd_l, HAS_BIAS,
                       SOFTPLUS)
    bv = _state_row(b_ptr + tok * N, offs_n, valid, VEC)
    cv = _state_row(c_ptr + tok * N, offs_n, valid, VEC)
    return uu, raw, dt, bv, cv, md


@triton.jit
def _chunk_inputs(q0, L, LP, rev, perm_ptr, p, u_ptr, dl_ptr, b_ptr, c_ptr,
                  offs_d, mask_d, offs_n, bias, su_d, su_l, sd_d, sd_l,
                  N: tl.constexpr, CHUNK: tl.constexpr,
                  HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                  MASK_L: tl.constexpr, VEC: tl.constexpr):
    """The inputs of steps q0 .. q0 + CHUNK - 1, one tuple per step:
    (token, valid, u, delta + bias, dt, B row, C row, channel mask).

    Every load of the chunk is issued here, before any store of the chunk:
    the compiler cannot move a load above a store that may alias it, so
    loads written between one step's stores and the next step's math
    exposed two dependent memory latencies (table, then data) per token
    (~1,700 cycles per token on an H100, docs/benchmark.md run 9).  Now
    they are paid once per chunk.
    """
    visits = ()
    for i in tl.static_range(CHUNK):
        visits = visits + (_visit(q0 + i, L, LP, rev, perm_ptr, p, MASK_L), )
    steps = ()
    for i in tl.static_range(CHUNK):
        tok, valid = visits[i]
        steps = steps + ((tok, valid) + _step_inputs(
            u_ptr, dl_ptr, b_ptr, c_ptr, tok, valid, offs_d, mask_d, offs_n,
            bias, su_d, su_l, sd_d, sd_l, N, HAS_BIAS, SOFTPLUS, VEC), )
    return steps


@triton.jit
def _chunk_douts(steps, dout_b, so_l, so_d, offs_d, CHUNK: tl.constexpr):
    # dout at each step of a chunk (fp32), one tuple entry per step.
    dys = ()
    for i in tl.static_range(CHUNK):
        dys = dys + (tl.load(dout_b + steps[i][0] * so_l + offs_d * so_d,
                             mask=steps[i][7], other=0.).to(tl.float32), )
    return dys


@triton.jit
def _seq_fwd_kernel(u_ptr, dl_ptr, b_ptr, c_ptr, at_ptr, dsk_ptr, bias_ptr,
                    out_ptr, ck_ptr, perm_ptr, h0_ptr, hend_ptr, sdt_ptr,
                    Dm, KD, L, LP, NSEG, NPAIR, PARTS, CPP,
                    su_b, su_d, su_l, sd_b, sd_k, sd_d, sd_l,
                    so_b, so_p, so_d, so_l,
                    N: tl.constexpr, BLOCK_D: tl.constexpr,
                    CHUNK: tl.constexpr, SEG: tl.constexpr,
                    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, SAVE_CK: tl.constexpr,
                    LOCAL: tl.constexpr, PREFETCH: tl.constexpr,
                    SPLIT: tl.constexpr, MASK_D: tl.constexpr,
                    MASK_L: tl.constexpr, VEC: tl.constexpr, so_r):
    # LOCAL: the first pass of a split sequence (PARTS > 1): each part
    # from a zero state, keeping only its end state and its sum of dt.
    # SPLIT: one program per order instead of per pair, each writing its
    # own output (the reverse one so_r further on; so_r = 0 otherwise),
    # summed by the caller: twice the programs, for grids that leave the
    # card part-empty.
    pid_d = tl.program_id(0)
    bb = tl.program_id(1).to(tl.int64)
    p = tl.program_id(2) % NPAIR
    part = tl.program_id(2) // NPAIR
    if SPLIT:
        part = tl.program_id(2) // (2 * NPAIR)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = _channel_mask(offs_d, Dm, BLOCK_D, MASK_D)
    offs_n = tl.arange(0, N)
    optr_d = offs_d * so_d
    for r in tl.static_range(1 if SPLIT else 2):
        # rd: the direction as a value (the program's under SPLIT); r stays
        # a compile-time constant for the static branches below.
        rd = r
        if SPLIT:
            rd = (tl.program_id(2) // NPAIR) % 2
        out_b = out_ptr + bb * so_b + p * so_p + rd * so_r
        k = p + rd * NPAIR
        a2, dsk, bias = _order_params(at_ptr, dsk_ptr, bias_ptr, k, Dm, KD,
                                      offs_n, offs_d, mask_d, N, HAS_D,
                                      HAS_BIAS)
        a2 = a2 * 1.4426950408889634
        u_b = u_ptr + bb * su_b
        dl_b = dl_ptr + bb * sd_b + k * sd_k
        b_b = b_ptr + (bb * (2 * NPAIR) + k) * L * N
        c_b = c_ptr + (bb * (2 * NPAIR) + k) * L * N
        bk = bb * (2 * NPAIR) + k
        ck_b = ck_ptr + bk * NSEG * N * Dm
        # The reverse order walks this part's positions as its step part
        # PARTS - 1 - part (see _visit).
        spart = part + rd * (PARTS - 1 - 2 * part)
        state = (bk * PARTS + spart) * N * Dm
        h = tl.zeros((N, BLOCK_D), dtype=tl.float32)
        sdt = tl.zeros((BLOCK_D, ), dtype=tl.float32)
        if not LOCAL:
            if PARTS > 1:
                h = _load_rows(h0_ptr + state, Dm, offs_n, offs_d, mask_d,
                               N)
        c_end = (spart + 1) * CPP
        if PREFETCH:
            steps = _chunk_inputs(spart * CPP * CHUNK, L, LP, rd, perm_ptr, p,
                                  u_b, dl_b, b_b, c_b, offs_d, mask_d,
                                  offs_n, bias, su_d, su_l, sd_d, sd_l, N,
                                  CHUNK, HAS_BIAS, SOFTPLUS, MASK_L, VEC)
        for c in range(spart * CPP, c_end):
            if SAVE_CK and not LOCAL:
                if c % SEG == 0:
                    _store_rows(ck_b + (c // SEG) * N * Dm, Dm, h, offs_n,
                                offs_d, mask_d, N)
            q = c  # the chunk loaded now: this one, or the next one
            if PREFETCH:  # whose loads then fly during this one's math
                q = tl.minimum(c + 1, c_end - 1)
            loaded = _chunk_inputs(q * CHUNK, L, LP, rd, perm_ptr, p, u_b,
                                   dl_b, b_b, c_b, offs_d, mask_d, offs_n,
                                   bias, su_d, su_l, sd_d, sd_l, N, CHUNK,
                                   HAS_BIAS, SOFTPLUS, MASK_L, VEC)
            if not PREFETCH:
                steps = loaded
            if not SPLIT:
                if r == 1 and not LOCAL:
                    # what the forward order stored, read before storing
                    prev = ()
                    for i in tl.static_range(CHUNK):
                        prev = prev + (tl.load(
                            out_b + steps[i][0] * so_l + optr_d,
                            mask=steps[i][7], other=0.).to(tl.float32), )
            for i in tl.static_range(CHUNK):
                tok, valid, uu, raw, dt, bv, cv, md = steps[i]
                h = _advance(h, a2, dt, uu, bv)
                if LOCAL:
                    sdt += dt
                else:
                    y = tl.sum(h * cv[:, None], 0)
                    if HAS_D:
                        y += dsk * uu
                    if not SPLIT:
                        if r == 1:  # the forward order stored its part
                            y += prev[i]
                    tl.store(out_b + tok * so_l + optr_d,
                             y.to(out_ptr.dtype.element_ty), mask=md)
            if PREFETCH:
                steps = loaded
        if LOCAL:
            _store_rows(hend_ptr + state, Dm, h, offs_n, offs_d, mask_d, N)
            tl.store(sdt_ptr + (bk * PARTS + spart) * Dm + offs_d, sdt,
                     mask=mask_d)
        # The reverse order reads what the forward order stored.
        tl.debug_barrier()


@triton.jit
def _program_slot():
    """The program's linear index in its 3-D grid: where its scratch (the
    backward's chunk-start states) lives.  Run 11 (docs/benchmark.md) left
    the sequence part out of it, so two programs shared a slot on the GPU:
    a race that Triton's interpreter, which runs the programs one after
    another, cannot show (tests check this helper instead)."""
    return ((tl.program_id(1).to(tl.int64) * tl.num_programs(2)
             + tl.program_id(2)) * tl.num_programs(0) + tl.program_id(0))


@triton.jit
def _seq_bwd_kernel(u_ptr, dl_ptr, b_ptr, c_ptr, at_ptr, dsk_ptr, bias_ptr,
                    dout_ptr, ck_ptr, perm_ptr, scr_ptr, du_ptr, ddl_ptr,
                    db_ptr, dc_ptr, da_ptr, dd_ptr, dbias_ptr,
                    carry_ptr, Dm, KD, L, LP, NSEG, NPAIR, PARTS, SPP,
                    su_b, su_d, su_l, sd_b, sd_k, sd_d, sd_l,
                    so_b, so_p, so_d, so_l, sdd_b, sdd_k, sdd_d, sdd_l,
                    sdu_b, sdu_d, sdu_l,
                    N: tl.constexpr, BLOCK_D: tl.constexpr,
                    CHUNK: tl.constexpr, SEG: tl.constexpr,
                    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, PREFETCH: tl.constexpr,
                    MASK_D: tl.constexpr, MASK_L: tl.constexpr,
                    VEC: tl.constexpr, PAIR: tl.constexpr,
                    SHFL: tl.constexpr):
    pid_d = tl.program_id(0)
    bb = tl.program_id(1).to(tl.int64)
    k = tl.program_id(2) % (2 * NPAIR)
    spart = tl.program_id(2) // (2 * NPAIR)  # step part (SEQ_PARTS)
    p = k % NPAIR
    rev = k // NPAIR
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = _channel_mask(offs_d, Dm, BLOCK_D, MASK_D)
    offs_n = tl.arange(0, N)
    kd = k * Dm + offs_d
    a2, dsk, bias = _order_params(at_ptr, dsk_ptr, bias_ptr, k, Dm, KD,
                                  offs_n, offs_d, mask_d, N, HAS_D, HAS_BIAS)
    # Only A * log2(e) is kept (registers): sum(g a h) = ln(2) sum(g a2 h).
    a2 = a2 * 1.4426950408889634
    u_b = u_ptr + bb * su_b
    dl_b = dl_ptr + bb * sd_b + k * sd_k
    bk = bb * (2 * NPAIR) + k
    b_b = b_ptr + bk * L * N
    c_b = c_ptr + bk * L * N
    dout_b = dout_ptr + bb * so_b + p * so_p
    ddl_b = ddl_ptr + bb * sdd_b + k * sdd_k
    du_b = du_ptr + bb * sdu_b
    db_b = db_ptr + bk * L * N
    dc_b = dc_ptr + bk * L * N
    ck_b = ck_ptr + bk * NSEG * N * Dm
    scr = scr_ptr + _program_slot() * SEG * N * BLOCK_D
    lane_d = tl.arange(0, BLOCK_D)
    mask_all = tl.full((BLOCK_D, ), 1, tl.int1)
    carry = tl.zeros((N, BLOCK_D), dtype=tl.float32)  # a_{i+1} G_{i+1}
    if PARTS > 1:  # what the later parts pass back into this one
        carry = _load_rows(carry_ptr + (bk * PARTS + spart) * N * Dm, Dm,
                           offs_n, offs_d, mask_d, N)
    da_acc = tl.zeros((N, BLOCK_D), dtype=tl.float32)
    dd_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D, ), dtype=tl.float32)
    for si in range(0, SPP):
        s = (spart + 1) * SPP - 1 - si
        h = _load_rows(ck_b + s * N * Dm, Dm, offs_n, offs_d, mask_d, N)
        if SEG > 1:
            # Rebuild this segment's chunk-start states.
            if PREFETCH:
                rs = _chunk_inputs(s * SEG * CHUNK, L, LP, rev, perm_ptr, p,
                                   u_b, dl_b, b_b, c_b, offs_d, mask_d,
                                   offs_n, bias, su_d, su_l, sd_d, sd_l, N,
                                   CHUNK, HAS_BIAS, SOFTPLUS, MASK_L, VEC)
            for j in range(0, SEG):
                q = j  # as in the forward: this chunk, or the next one
                if PREFETCH:
                    q = tl.minimum(j + 1, SEG - 1)
                loaded = _chunk_inputs((s * SEG + q) * CHUNK, L, LP, rev,
                                       perm_ptr, p, u_b, dl_b, b_b, c_b,
                                       offs_d, mask_d, offs_n, bias, su_d,
                                       su_l, sd_d, sd_l, N, CHUNK, HAS_BIAS,
                                       SOFTPLUS, MASK_L, VEC)
                if not PREFETCH:
                    rs = loaded
                _store_rows(scr + j * N * BLOCK_D, BLOCK_D, h, offs_n,
                            lane_d, mask_all, N)
                for i in tl.static_range(CHUNK):
                    h = _advance(h, a2, rs[i][4], rs[i][2], rs[i][5])
                if PREFETCH:
                    rs = loaded
            tl.debug_barrier()
        if PREFETCH:
            steps = _chunk_inputs((s * SEG + SEG - 1) * CHUNK, L, LP, rev,
                                  perm_ptr, p, u_b, dl_b, b_b, c_b, offs_d,
                                  mask_d, offs_n, bias, su_d, su_l, sd_d,
                                  sd_l, N, CHUNK, HAS_BIAS, SOFTPLUS,
                                  MASK_L, VEC)
            dys = _chunk_douts(steps, dout_b, so_l, so_d, offs_d, CHUNK)
        for jj in range(0, SEG):
            j = SEG - 1 - jj
            q = j  # this chunk, or the next (earlier) one when prefetching
            if PREFETCH:
                q = tl.maximum(j - 1, 0)
            loaded = _chunk_inputs((s * SEG + q) * CHUNK, L, LP, rev,
                                   perm_ptr, p, u_b, dl_b, b_b, c_b, offs_d,
                                   mask_d, offs_n, bias, su_d, su_l, sd_d,
                                   sd_l, N, CHUNK, HAS_BIAS, SOFTPLUS,
                                   MASK_L, VEC)
            loaded_dys = _chunk_douts(loaded, dout_b, so_l, so_d, offs_d,
                                      CHUNK)
            if not PREFETCH:
                steps = loaded
                dys = loaded_dys
            if SEG > 1:
                h = _load_rows(scr + j * N * BLOCK_D, BLOCK_D, offs_n,
                               lane_d, mask_all, N)
            # The chunk's states, kept in registers.
            hs = ()
            for i in tl.static_range(CHUNK):
                h = _advance(h, a2, steps[i][4], steps[i][2], steps[i][5])
                hs = hs + (h, )
            for i in tl.static_range(CHUNK - 1, -1, -1):
                tok, valid, uu, raw, dt, bv, cv, md = steps[i]
                dy = dys[i]
                dtu = dt * uu
                g = carry + cv[:, None] * dy[None, :]  # dL/dh_i
                # a_i h_{i-1} = h_i - b_i: no shifted copy of the states.
                ghm = g * (hs[i] - bv[:, None] * dtu[None, :])
                da_acc += ghm * dt[None, :]
                gb = tl.sum(g * bv[:, None], 0)
                ddt = uu * gb + tl.sum(ghm * a2, 0) * 0.6931471805599453
                du = dt * gb
                if HAS_D:
                    du += dsk * dy
                    dd_acc += dy * uu
                if SOFTPLUS:
                    ddt = ddt * _sigmoid(raw, SOFTPLUS == 2)
                ddt = tl.where(md, ddt, 0.)
                dbias_acc += ddt
                tl.store(ddl_b + tok * sdd_l + offs_d * sdd_d,
                         ddt.to(ddl_ptr.dtype.element_ty), mask=md)
                tl.atomic_add(du_b + tok * sdu_l + offs_d * sdu_d, du,
                              mask=md, sem='relaxed')
                # B and C are shared by the channels: reduce over this
                # program's channels, then add across programs.
                if PAIR:  # both in one reduce-scatter, one atomic a lane
                    v, row = _scatter_pair(hs[i] * dy[None, :],
                                           g * dtu[None, :], lane_d, N, SHFL)
                    dst = tl.where(lane_d >= 16, db_b, dc_b) + tok * N + row
                    tl.atomic_add(
                        dst[None, :] + tl.arange(0, N // 16)[:, None], v,
                        mask=valid, sem='relaxed')
                else:
                    tl.atomic_add(
                        dc_b + tok * N + offs_n,
                        _channel_sum(hs[i] * dy[None, :], N, BLOCK_D),
                        mask=valid, sem='relaxed')
                    tl.atomic_add(
                        db_b + tok * N + offs_n,
                        _channel_sum(g * dtu[None, :], N, BLOCK_D),
                        mask=valid, sem='relaxed')
                carry = tl.exp2(dt[None, :] * a2) * g
            if PREFETCH:
                steps = loaded
                dys = loaded_dys
    for n in tl.static_range(N):
        tl.atomic_add(da_ptr + n * KD + kd, _row(da_acc, offs_n, n),
                      mask=mask_d, sem='relaxed')
    if HAS_D:
        tl.atomic_add(dd_ptr + kd, dd_acc, mask=mask_d, sem='relaxed')
    if HAS_BIAS:
        tl.atomic_add(dbias_ptr + kd, dbias_acc, mask=mask_d, sem='relaxed')


@triton.jit
def _seq_carry_kernel(dl_ptr, c_ptr, at_ptr, bias_ptr, dout_ptr, perm_ptr,
                      carry_ptr, Dm, KD, L, LP, NPAIR, PARTS, CPP,
                      sd_b, sd_k, sd_d, sd_l, so_b, so_p, so_d, so_l,
                      N: tl.constexpr, BLOCK_D: tl.constexpr,
                      CHUNK: tl.constexpr, HAS_BIAS: tl.constexpr,
                      SOFTPLUS: tl.constexpr, MASK_D: tl.constexpr,
                      MASK_L: tl.constexpr, VEC: tl.constexpr):
    """First backward pass of a split sequence: each step part's adjoint
    carry at its start, from a zero carry at its end (g = carry + C dy,
    carry = a g: no states needed)."""
    pid_d = tl.program_id(0)
    bb = tl.program_id(1).to(tl.int64)
    k = tl.program_id(2) % (2 * NPAIR)
    spart = tl.program_id(2) // (2 * NPAIR)
    p = k % NPAIR
    rev = k // NPAIR
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = _channel_mask(offs_d, Dm, BLOCK_D, MASK_D)
    offs_n = tl.arange(0, N)
    a2, dsk, bias = _order_params(at_ptr, at_ptr, bias_ptr, k, Dm, KD,
                                  offs_n, offs_d, mask_d, N, False, HAS_BIAS)
    a2 = a2 * 1.4426950408889634
    bk = bb * (2 * NPAIR) + k
    dl_b = dl_ptr + bb * sd_b + k * sd_k
    c_b = c_ptr + bk * L * N
    dout_b = dout_ptr + bb * so_b + p * so_p
    carry = tl.zeros((N, BLOCK_D), dtype=tl.float32)
    for ci in range(0, CPP):
        c = (spart + 1) * CPP - 1 - ci
        for i in tl.static_range(CHUNK - 1, -1, -1):
            tok, valid = _visit(c * CHUNK + i, L, LP, rev, perm_ptr, p,
                                MASK_L)
            md = mask_d & valid
            raw, dt = _step_dt(dl_b, tok, md, offs_d, bias, sd_d, sd_l,
                               HAS_BIAS, SOFTPLUS)
            cv = _state_row(c_b + tok * N, offs_n, valid, VEC)
            dy = tl.load(dout_b + tok * so_l + offs_d * so_d, mask=md,
                         other=0.).to(tl.float32)
            carry = tl.exp2(dt[None, :] * a2) * (carry
                                                 + cv[:, None] * dy[None, :])
    _store_rows(carry_ptr + (bk * PARTS + spart) * N * Dm, Dm, carry, offs_n,
                offs_d, mask_d, N)


@triton.jit
def _chain_kernel(at_ptr, sdt_ptr, local_ptr, out_ptr, Dm, K, PARTS,
                  N: tl.constexpr, BLOCK_D: tl.constexpr,
                  REVERSE: tl.constexpr):
    """The parts' start values from their local end values (``_chain``),
    one program per (channel block, batch and order), walking the parts in
    order with all N states in registers."""
    offs_d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_d < Dm
    bk = tl.program_id(1).to(tl.int64)
    k = bk % K
    offs_n = tl.arange(0, N)
    mask = tl.broadcast_to(mask_d[None, :], (N, BLOCK_D))
    a2 = tl.load(at_ptr + offs_n[:, None] * (K * Dm) + k * Dm
                 + offs_d[None, :], mask=mask, other=0.) * 1.4426950408889634
    rows = offs_n[:, None] * Dm + offs_d[None, :]
    carry = tl.zeros((N, BLOCK_D), dtype=tl.float32)
    first = PARTS - 1 if REVERSE else 0
    tl.store(out_ptr + (bk * PARTS + first) * N * Dm + rows, carry,
             mask=mask)
    for i in range(1, PARTS):
        s = PARTS - 1 - i if REVERSE else i
        src = s + 1 if REVERSE else s - 1
        dt = tl.load(sdt_ptr + (bk * PARTS + src) * Dm + offs_d, mask=mask_d,
                     other=0.)
        loc = tl.load(local_ptr + (bk * PARTS + src) * N * Dm + rows,
                      mask=mask, other=0.)
        carry = tl.exp2(a2 * dt[None, :]) * carry + loc
        tl.store(out_ptr + (bk * PARTS + s) * N * Dm + rows, carry,
                 mask=mask)


# Launch parameters.  The checkpoint interval EVERY (tokens) is shared by
# the two kernels: forward CHUNK must divide it, backward CHUNK * SEG = it.
# Memory of the checkpoints: 4 * N / EVERY bytes per (batch, order,
# channel, token), i.e. 1 byte at N = 16, EVERY = 64.  CHUNK is also the
# number of steps whose loads are issued together (_chunk_inputs), so it
# trades registers (occupancy) against exposed memory latency.  Chosen from
# the compiler's output for sm_90 (registers, spills) and a sweep on one
# H100 (tools/gpu/sweep_seq.py; docs/benchmark.md, run 11): forward
# BLOCK_D 32 / CHUNK 4 (168 registers) beat CHUNK 2 (78) and BLOCK_D 16;
# the backward with CHUNK 2 and a register cap of 168 (ptxas spills 80
# bytes) beat the cap 192 (no spills) and CHUNK 4 (which spills more):
# uncapped it took 227-249 registers, one resident warp in eight.
# PREFETCH=True (either pass) issues the next chunk's loads before the
# current chunk is computed (software pipelining inside one warp, the
# inputs carried across iterations as tuples).  Exact in the interpreter;
# more live registers (sm_90, capped at 168: forward BLOCK_D 32 / CHUNK 2
# spills 32 bytes, backward CHUNK 1 / SEG 64 none, CHUNK 2 488 bytes).
# Timed in runs 12-13 (H200): it wins in the forward of small grids (see
# below) and loses in the backward (84.7 vs 50.2 ms fwd+bwd).
# SPLIT=True (since run 20, docs/benchmark.md): one program per order
# instead of per pair, each direction writing its own output, summed after
# the launch (one elementwise pass, a transient second output): twice the
# resident warps, which is what the latency-bound walk needs.  B 32, H200,
# forward: Dm 192 20.3 -> 11.1 ms (against the half-width launch below),
# Dm 512 25.3 -> 22.2 ms (against BLOCK_D 32 / CHUNK 4).  Re-swept in run
# 21 (H200) after the per-token instruction cuts (MASK_D / MASK_L, SOFTPLUS
# 2, VEC): forward 11.3 -> 8.4 ms (Dm 192), 22.3 -> 16.3 (Dm 512); fwd+bwd
# 45.2 -> 37.6 and 93.3 -> 77.4.  Still best there: CHUNK 4 or no PREFETCH
# forward 11.3-21.6 ms; the backward uncapped, capped at 144, with
# PREFETCH, or CHUNK 1 / SEG 64 42.7-114.3 ms (docs/benchmark.md).
# The backward's dB and dC in one reduce-scatter (PAIR, on where it
# applies; {"PAIR": false} in the bwd config turns it off): 62 shuffles per
# 2-token step instead of 128, 64 bytes of spills at the cap of 168; run 24
# (H200): fwd+bwd 37.2 -> 35.5 ms (Dm 192), 76.3 -> 73.0 (Dm 512); with the
# cap at 176 or 184 (fewer or no spills) 46.7-90.3 ms, slower.
SEQ_FWD_CFG = dict(BLOCK_D=32, CHUNK=2, num_warps=1, PREFETCH=True,
                   SPLIT=True)
SEQ_BWD_CFG = dict(BLOCK_D=32, CHUNK=2, SEG=32, num_warps=1, maxnreg=168)
# Until run 20 grids that left the card part-empty (fewer than 1,024
# programs) took a half-width forward (BLOCK_D 16, CHUNK 2, PREFETCH: Dm
# 192, B 32, 23.7 -> 16.3 ms, run 13); SPLIT beat it at both sizes, so
# that second launch and its switch were removed.
# Parts the sequence is split into, scanned in parallel (a two-level scan:
# each part from a zero state / zero adjoint, a short pass over the parts'
# end values, then each part again from its true start).  The kernels'
# parallelism is B * Dm / BLOCK_D * (pairs or orders) programs of one warp,
# independent of L: at batch 8 the forward took as long as at batch 32
# (runs 9 and 11).  PARTS multiplies the programs at the price of one more
# exp per state in each direction.  An int forces it; None (or
# STMAMBA_SCAN_PARTS=auto) takes the smallest power of two that brings the
# forward's programs to PARTS_TARGET (at most MAX_PARTS): 16 parts at
# batch 8, Dm 192 (44.3 -> 13.6 ms fwd+bwd on an H100, run 11), 4 at batch
# 32, Dm 192, 1 at batch 32, Dm 512.  Automatic by default since the GPU
# gradient tests passed with 1 and 2 parts (H200, 2026-12-02; run 11's
# failure was the backward's scratch slot ignoring the part, a race the
# sequential interpreter cannot show).  Environment override:
# STMAMBA_SCAN_PARTS (an int or 'auto').
SEQ_PARTS = None
PARTS_TARGET = 1024
MAX_PARTS = 16


def _launch_override():
    """The JSON object in STMAMBA_SCAN_LAUNCH ({"fwd": {...}, "bwd":
    {...}}), {} when unset, for tuning on another card without editing the
    source."""
    text = os.environ.get('STMAMBA_SCAN_LAUNCH')
    if not text:
        return {}
    try:
        over = json.loads(text)
        return {key: dict(over.get(key, {})) for key in ('fwd', 'bwd')
                if key in over}
    except (ValueError, AttributeError, TypeError) as err:
        raise ValueError(
            f'STMAMBA_SCAN_LAUNCH={text!r}: expected a JSON object '
            f'like {{"fwd": {{"CHUNK": 4}}, "bwd": {{"SEG": 16}}}} '
            f'({err})') from err


def _launch_cfgs():
    """(forward, backward) launch configurations: the module's, updated by
    STMAMBA_SCAN_LAUNCH (``_launch_override``)."""
    over = _launch_override()
    fcfg, bcfg = dict(SEQ_FWD_CFG), dict(SEQ_BWD_CFG)
    fcfg.update(over.get('fwd', {}))
    bcfg.update(over.get('bwd', {}))
    return fcfg, bcfg


def _compiled() -> bool:
    """Whether the kernels are compiled (False under Triton's interpreter,
    which runs neither inline PTX nor the special-function unit's math)."""
    return type(_seq_fwd_kernel).__name__ != 'InterpretedFunction'


def _softplus_mode(softplus) -> int:
    """The kernels' SOFTPLUS: 0 off, 1 with portable math (what Triton's
    interpreter runs), 2 with the special-function unit's log2 and
    division (compiled kernels; see ``_log1p_unit``)."""
    if not softplus:
        return 0
    return 2 if _compiled() else 1


def _masks(cfg, dm, seq, length_p, n):
    """The kernels' MASK_D (Dm not a multiple of BLOCK_D), MASK_L (padding
    steps: LP > L) and VEC (B / C rows as 16-byte loads, ``_state_row``)."""
    mask_d, mask_l = dm % cfg['BLOCK_D'] != 0, length_p != seq
    vec = (_compiled() and not mask_l and n % 4 == 0
           and cfg['BLOCK_D'] == 32 * cfg.get('num_warps', 1))
    return dict(MASK_D=mask_d, MASK_L=mask_l, VEC=vec)


def _lane_sums(cfg, n):
    """The backward's PAIR (dB and dC in one reduce-scatter,
    ``_scatter_pair``: one warp of 32 channels, N >= 16; the config's
    ``PAIR`` False turns it off) and SHFL (its shuffles as inline PTX:
    compiled kernels)."""
    pair = (cfg.get('PAIR', True) and cfg['BLOCK_D'] == 32 and n >= 16
            and cfg.get('num_warps', 1) == 1)
    return dict(PAIR=pair, SHFL=pair and _compiled())


def _compile_opts(cfg):
    # num_warps, and maxnreg (a register cap for ptxas) where the config
    # sets one; the interpreter ignores both.
    return {key: cfg[key] for key in ('num_warps', 'maxnreg') if key in cfg}


def _strides(t, dims):
    return [t.stride(d) for d in dims]


def _parts(programs: int, segments: int) -> int:
    """Sequence parts for a forward launch of ``programs`` programs over
    ``segments`` checkpoint segments (see SEQ_PARTS)."""
    forced = os.environ.get('STMAMBA_SCAN_PARTS', SEQ_PARTS)
    if forced == 'auto':
        forced = None
    if forced is not None:
        parts = int(forced)
        if parts < 1:
            raise ValueError(f'STMAMBA_SCAN_PARTS={parts}: expected >= 1')
        return min(parts, segments)
    parts = 1
    while (programs * parts < PARTS_TARGET and parts * 2 <= MAX_PARTS
           and parts * 2 <= segments):
        parts *= 2
    return parts


def _chain(a_t, sdt, local, reverse):
    """Start values of each step part from the parts' local end values.

    State (forward): h0[s] = exp(A sum(dt)[s-1]) h0[s-1] + local[s-1];
    adjoint carry (backward, reverse=True): c[s] = exp(A sum(dt)[s+1])
    c[s+1] + local[s+1]; zero at the first (last) part.  a_t (N, K*Dm);
    sdt (B, K, P, Dm); local (B, K, P, N, Dm), all fp32 contiguous.  One
    launch (``_chain_kernel``): as torch ops it was five small kernels per
    part, about a millisecond of host time per scan call at 16 parts
    (docs/benchmark.md, run 28).
    """
    bt, k, parts, n, dm = local.shape
    out = torch.empty_like(local)
    block = min(triton.next_power_of_2(dm), 64)
    _chain_kernel[(triton.cdiv(dm, block), bt * k)](
        a_t, sdt.contiguous(), local.contiguous(), out, dm, k, parts, N=n,
        BLOCK_D=block, REVERSE=reverse)
    return out


def _token_major(x, n):
    """(B, K, N', L) -> fp32 with memory (B, K, L, n), zero-padded states."""
    bt, k, n_in, seq = x.shape
    out = x.new_zeros(bt, k, seq, n, dtype=torch.float32)
    out[..., :n_in] = x.transpose(2, 3)
    return out.transpose(2, 3)


def _channels_last(t):
    """(B, [K,] C, L) with memory (B, L, [K,] C): a copy unless already so.

    The kernels read one row of channels per visited token; with the
    channels at stride L each lane's load is its own memory sector, which
    made the backward ~3x slower inside the GSM block (dout arrived
    contiguous there).  The copy is one pass over the tensor.
    """
    if t.stride(-2) == 1 and (t.dim() == 3 or t.stride(1) == t.shape[2]):
        return t
    perm = (0, t.dim() - 1) + tuple(range(1, t.dim() - 1))
    inv = [perm.index(i) for i in range(t.dim())]
    return t.permute(*perm).contiguous().permute(*inv)


def _scan_forward(u, delta, A, B, C, D, delta_bias, softplus, perms, save):
    """Forward launch(es); returns (out, tensors kept for the backward
    (None unless ``save``), meta)."""
    u, delta = _channels_last(u), _channels_last(delta)
    bt, dm, seq = u.shape
    k = delta.shape[1]
    n_in = A.shape[1]
    # tl.arange needs a power of two: extra states have A = 0 and B = 0,
    # so they stay 0, add nothing to y and get no gradient.
    n = max(triton.next_power_of_2(n_in), 2)
    npair = k // 2
    fcfg, bcfg = _launch_cfgs()
    every = bcfg['CHUNK'] * bcfg['SEG']
    if every % fcfg['CHUNK']:
        raise ValueError(f'SEQ_BWD_CFG CHUNK*SEG={every} must be a '
                         f'multiple of SEQ_FWD_CFG CHUNK={fcfg["CHUNK"]}')
    split = bool(fcfg.get('SPLIT', False))
    parts = _parts(bt * triton.cdiv(dm, fcfg['BLOCK_D']) * npair *
                   (1 + split), triton.cdiv(seq, every))
    # Checkpoint segments: a whole number per part; LP steps in all.
    nseg = triton.cdiv(triton.cdiv(seq, every), parts) * parts
    length_p = nseg * every
    a_t = A.new_zeros(n, k * dm, dtype=torch.float32)
    a_t[:n_in] = A.float().t()  # (N, K*Dm)
    b_dtype, c_dtype = B.dtype, C.dtype
    # Token-major fp32 copies: (B, K, L, N) memory, (B, K, N, L) view.
    B, C = (_token_major(x, n) for x in (B, C))
    # Channels-last output, (B, P, Dm, L) as a view; SPLIT: the two
    # directions' outputs side by side, summed after the launch.
    buf = torch.empty(bt, seq, 1 + split, npair, dm, dtype=u.dtype,
                      device=u.device)
    out = buf[:, :, 0].permute(0, 2, 3, 1)
    ck = (torch.empty(bt, k, nseg, n, dm, dtype=torch.float32,
                      device=u.device) if save else a_t)
    dummy = a_t
    grid = (triton.cdiv(dm, fcfg['BLOCK_D']), bt,
            npair * parts * (1 + split))

    def launch(local, h0, hend):
        _seq_fwd_kernel[grid](
            u, delta, B, C, a_t, D if D is not None else dummy,
            delta_bias if delta_bias is not None else dummy, out, ck,
            perms, h0, hend, sdt, dm, k * dm, seq, length_p, nseg, npair,
            parts, length_p // parts // fcfg['CHUNK'],
            *_strides(u, (0, 1, 2)), *_strides(delta, (0, 1, 2, 3)),
            *_strides(out, (0, 1, 2, 3)),
            N=n, BLOCK_D=fcfg['BLOCK_D'], CHUNK=fcfg['CHUNK'],
            SEG=every // fcfg['CHUNK'], HAS_D=D is not None,
            HAS_BIAS=delta_bias is not None,
            SOFTPLUS=_softplus_mode(softplus),
            SAVE_CK=save, LOCAL=local,
            PREFETCH=bool(fcfg.get('PREFETCH', False)), SPLIT=split,
            **_masks(fcfg, dm, seq, length_p, n),
            so_r=buf.stride(2) if split else 0, **_compile_opts(fcfg))

    sdt = dummy
    if parts > 1:
        # Parts' end states from zero, chained, then the real pass.
        hend = a_t.new_empty(bt, k, parts, n, dm)
        sdt = a_t.new_empty(bt, k, parts, dm)
        launch(True, dummy, hend)
        launch(False, _chain(a_t, sdt, hend, reverse=False), dummy)
    else:
        launch(False, dummy, dummy)
    if split:
        out = torch.add(buf[:, :, 0], buf[:, :, 1]).permute(0, 2, 3, 1)
        del buf
    kept = ((u, delta, a_t, B, C, D, delta_bias, ck, perms, sdt)
            if save else None)
    meta = (bool(softplus), nseg, parts, bcfg, A.dtype, b_dtype, c_dtype,
            n_in)
    return out, kept, meta


def _scan_backward(kept, meta, dout):
    """Gradients of (u, delta, A, B, C, D, delta_bias) from what
    :func:`_scan_forward` kept."""
    u, delta, a_t, B, C, D, delta_bias, ck, perms, sdt = kept
    (softplus, nseg, parts, cfg, a_dtype, b_dtype, c_dtype, n_in) = meta
    dout = _channels_last(dout)
    bt, dm, seq = u.shape
    k = delta.shape[1]
    n = a_t.shape[0]
    dev = u.device
    f32 = torch.float32
    du = torch.zeros(bt, seq, dm, dtype=f32, device=dev).transpose(1, 2)
    ddelta = torch.empty_like(delta)
    db = torch.zeros(bt, k, seq, n, dtype=f32, device=dev).transpose(2, 3)
    dc = torch.zeros_like(db)
    da = torch.zeros(n, k * dm, dtype=f32, device=dev)
    dd = torch.zeros(k * dm, dtype=f32, device=dev)
    dbias = torch.zeros(k * dm, dtype=f32, device=dev)
    grid = (triton.cdiv(dm, cfg['BLOCK_D']), bt, k * parts)
    scr = torch.empty(grid[0] * bt * k * parts * cfg['SEG'] * n *
                      cfg['BLOCK_D'], dtype=f32, device=dev)
    dummy = a_t
    length_p = nseg * cfg['CHUNK'] * cfg['SEG']
    masks = _masks(cfg, dm, seq, length_p, n)
    carry = dummy
    if parts > 1:
        local = a_t.new_empty(bt, k, parts, n, dm)
        _seq_carry_kernel[grid](
            delta, C, a_t, delta_bias if delta_bias is not None else
            dummy, dout, perms, local, dm, k * dm, seq, length_p, k // 2,
            parts, length_p // parts // cfg['CHUNK'],
            *_strides(delta, (0, 1, 2, 3)), *_strides(dout, (0, 1, 2, 3)),
            N=n, BLOCK_D=cfg['BLOCK_D'], CHUNK=cfg['CHUNK'],
            HAS_BIAS=delta_bias is not None,
            SOFTPLUS=_softplus_mode(softplus),
            **masks, **_compile_opts(cfg))
        carry = _chain(a_t, sdt, local, reverse=True)
    _seq_bwd_kernel[grid](
        u, delta, B, C, a_t, D if D is not None else dummy,
        delta_bias if delta_bias is not None else dummy, dout, ck,
        perms, scr, du, ddelta, db, dc, da, dd, dbias, carry, dm, k * dm,
        seq, length_p, nseg, k // 2, parts, nseg // parts,
        *_strides(u, (0, 1, 2)), *_strides(delta, (0, 1, 2, 3)),
        *_strides(dout, (0, 1, 2, 3)), *_strides(ddelta, (0, 1, 2, 3)),
        *_strides(du, (0, 1, 2)),
        N=n, BLOCK_D=cfg['BLOCK_D'], CHUNK=cfg['CHUNK'], SEG=cfg['SEG'],
        HAS_D=D is not None, HAS_BIAS=delta_bias is not None,
        SOFTPLUS=_softplus_mode(softplus),
        PREFETCH=bool(cfg.get('PREFETCH', False)),
        **masks, **_lane_sums(cfg, n), **_compile_opts(cfg))
    return (du.to(u.dtype), ddelta, da[:n_in].t().to(a_dtype),
            db[:, :, :n_in].to(b_dtype), dc[:, :, :n_in].to(c_dtype),
            dd.to(D.dtype) if D is not None else None,
            dbias.to(delta_bias.dtype) if delta_bias is not None else None)


def _needs_save(ctx):
    # every input but the last two (softplus, perms) may want a gradient
    return any(ctx.needs_input_grad[:-2])


class MultiOrderScanSeq(torch.autograd.Function):
    """Autograd wrapper of the channel-per-lane kernels (any strides)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, softplus, perms):
        out, kept, ctx.meta = _scan_forward(u, delta, A, B, C, D, delta_bias,
                                            softplus, perms, _needs_save(ctx))
        if kept is not None:
            ctx.save_for_backward(*kept)
        return out

    @staticmethod
    def backward(ctx, dout):
        return _scan_backward(ctx.saved_tensors, ctx.meta,
                              dout) + (None, None)


class MultiOrderScanSeqLowRank(torch.autograd.Function):
    """:class:`MultiOrderScanSeq` with delta given by its low-rank factors
    (``multi_scan.LowRankDelta``): delta is expanded for the forward
    launch, freed, and expanded again for the backward one, so what is kept
    is ``low`` (B, L, K, R) instead of delta (B, K, Dm, L), R / Dm of its
    size.  The expansion runs under the forward's autocast state both times
    (same values); its gradient is autograd's of that expansion."""

    @staticmethod
    def forward(ctx, u, low, weight, A, B, C, D, delta_bias, softplus, perms):
        from .multi_scan import LowRankDelta
        kind = u.device.type
        ctx.amp = (torch.is_autocast_enabled(kind),
                   torch.get_autocast_dtype(kind))
        # One token-major copy, for the expansion and for the backward
        # (a view of the x projection would keep all of it alive).
        low = low.contiguous()
        delta = LowRankDelta(low, weight).expand()
        out, kept, ctx.meta = _scan_forward(u, delta, A, B, C, D, delta_bias,
                                            softplus, perms, _needs_save(ctx))
        del delta
        if kept is not None:
            ctx.save_for_backward(kept[0], low, weight, *kept[2:])
        return out

    @staticmethod
    def backward(ctx, dout):
        from .multi_scan import LowRankDelta
        u, low, weight, *rest = ctx.saved_tensors
        enabled, dtype = ctx.amp
        with torch.enable_grad(), torch.autocast(
                u.device.type, dtype=dtype, enabled=enabled):
            low_ = low.detach().requires_grad_(ctx.needs_input_grad[1])
            weight_ = weight.detach().requires_grad_(ctx.needs_input_grad[2])
            delta = LowRankDelta(low_, weight_).expand()
        du, ddelta, *grads = _scan_backward((u, delta.detach(), *rest),
                                            ctx.meta, dout)
        wants = [t for t in (low_, weight_) if t.requires_grad]
        found = iter(torch.autograd.grad(delta, wants, ddelta)
                     if wants else ())
        dlow = next(found) if low_.requires_grad else None
        dweight = next(found) if weight_.requires_grad else None
        return (du, dlow, dweight, *grads, None, None)
