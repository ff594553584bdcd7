"""Selective scan in plain PyTorch: the specification and the fast path.

References:
    * Mamba (Gu & Dao, 2023), Alg. 2 and the public ``selective_scan_ref``
      of state-spaces/mamba: the recurrence, the argument names and the
      shape contract followed here.  Written anew from the equations.
    * Blelloch, "Prefix sums and their applications" (1990): a linear
      recurrence is an associative scan, so it can be split into chunks
      that are scanned independently and joined by a short pass over the
      chunk ends.  Used here in its simplest two-level form.

The recurrence, per batch ``b``, channel ``d`` and state ``n``::

    x[l] = exp(delta[l] * A[d, n]) * x[l - 1] + delta[l] * B[n, l] * u[l]
    y[l] = sum_n C[n, l] * x[l] + D[d] * u[l]
    out  = y * silu(z)            (when z is given)

with ``x[-1] = 0`` and ``delta`` optionally shifted by ``delta_bias`` and
passed through softplus first.

Two implementations live here:

* :func:`selective_scan_ref` loops over the L tokens exactly as written
  above and leaves the gradient to autograd.  Slow; it is the spec.
* :func:`selective_scan_torch` computes the same numbers with a chunked
  scan and an analytic backward (reverse-time adjoint scan).  The
  sequence is cut into chunks of ``chunk_size`` tokens; a Python loop
  runs over the positions *inside* a chunk, each step vectorised over all
  chunks of a block, then a short loop over chunks joins them.  Only
  products of ``exp(delta * A)`` (each <= 1 for A <= 0) are ever formed,
  never their inverses, so large ``delta * |A|`` underflows to an exact
  zero instead of overflowing: no inf, no NaN.  Blocks of a few thousand
  tokens bound the (B, D, L_block, N) temporaries; the backward
  recomputes each block's states from the block's saved initial state,
  so nothing of size (B, D, L, N) outlives a block.

Inferred/undocumented choices: A is real (mamba's complex A is not
supported); the stability guarantee assumes ``A <= 0`` as in every Mamba
parametrisation (``A = -exp(A_log)``).
"""
import math

import torch
import torch.nn.functional as F

# Elements (of B * D * L_block * N) in one block's temporaries.  2**22
# fp32 values are 16 MiB per buffer; the backward holds about eight, which
# stays well inside the L2 + L3 working set of a small CPU and keeps the
# peak memory of a (1, 384, 15360, 16) scan near 150 MiB instead of GiBs.
_BLOCK_ELEMS = 1 << 22


def selective_scan_ref(u,
                       delta,
                       A,
                       B,
                       C,
                       D=None,
                       z=None,
                       delta_bias=None,
                       delta_softplus=False,
                       return_last_state=False):
    """Sequential selective scan, written to read like the equations.

    Same arguments and returns as
    :func:`mmpose_stmamba.ops.selective_scan`.  Computes in float32
    (float64 for float64 inputs); gradients come from autograd through
    the Python loop over L, so use it only for checks and benchmarks.
    """
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta, A = u.to(work), delta.to(work), A.to(work)
    batch, dim, length = u.shape
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    B, C = _per_channel(B, dim).to(work), _per_channel(C, dim).to(work)

    x = u.new_zeros(batch, dim, A.shape[1])  # (B, D, N)
    ys = []
    for i in range(length):
        decay = torch.exp(delta[:, :, i, None] * A)  # (B, D, N)
        drive = (delta[:, :, i] * u[:, :, i])[..., None] * B[..., i]
        x = decay * x + drive
        ys.append((x * C[..., i]).sum(-1))  # (B, D)
    y = torch.stack(ys, dim=-1)  # (B, D, L)
    if D is not None:
        y = y + D.to(work)[:, None] * u
    if z is not None:
        y = y * F.silu(z.to(work))
    y = y.to(dtype_in)
    return (y, x) if return_last_state else y


def selective_scan_torch(u,
                         delta,
                         A,
                         B,
                         C,
                         D=None,
                         z=None,
                         delta_bias=None,
                         delta_softplus=False,
                         return_last_state=False,
                         chunk_size=None,
                         block_chunks=None):
    """Chunked selective scan with an analytic, block-recomputing backward.

    Same arguments and returns as
    :func:`mmpose_stmamba.ops.selective_scan`, plus two tuning knobs.
    Accumulates in float32 for half-precision inputs (float64 stays
    float64); the output has u's dtype, each gradient its input's dtype.

    Args:
        chunk_size (int, optional): tokens per chunk (the length of the
            vectorised inner loop).  Defaults to about the square root of
            the block length, which balances the two Python loops.
        block_chunks (int, optional): chunks per block, i.e. how many
            tokens' worth of (B, D, N) state are materialised at once.
            Defaults to a block of about ``2**22`` state elements.
    """
    if torch.is_complex(A):
        raise TypeError('selective_scan_torch: complex A is not supported')
    batch, dim, length = u.shape
    state = A.shape[1]
    if chunk_size is None or block_chunks is None:
        auto_chunk, auto_blocks = _default_tiling(batch * dim * state, length)
        chunk_size = chunk_size or auto_chunk
        block_chunks = block_chunks or auto_blocks
    if chunk_size < 1 or block_chunks < 1:
        raise ValueError(f'chunk_size={chunk_size} and '
                         f'block_chunks={block_chunks} must be >= 1')
    y, last = _ChunkedScan.apply(u, delta, A, B, C, D, z, delta_bias,
                                 bool(delta_softplus), int(chunk_size),
                                 int(block_chunks))
    return (y, last) if return_last_state else y


def _default_tiling(state_per_token, length):
    """Pick (chunk_size, block_chunks) for a scan of ``length`` tokens."""
    block_len = max(1, _BLOCK_ELEMS // max(1, state_per_token))
    block_len = min(block_len, length)
    # The inner loop costs chunk_size steps per block and the join loop
    # block_chunks steps; their product is fixed by the block size, so
    # the square root minimises the number of Python-level steps.  Below
    # 8 tokens per chunk the per-step overhead dominates.
    chunk = max(8, int(math.sqrt(block_len)))
    chunk = min(chunk, length)
    return chunk, max(1, block_len // chunk)


def _per_channel(BC, dim):
    """Expand B or C, (B, N, L) or (B, G, N, L), to (B, D, N, L)."""
    if BC.dim() == 3:
        BC = BC.unsqueeze(1)
    groups = BC.shape[1]
    return BC.repeat_interleave(dim // groups, dim=1)


def _tokens_to_chunks(x, chunk):
    """(b, g, c, L) with L = nc * chunk -> (chunk, b, g, nc, c)."""
    b, g, c, length = x.shape
    x = x.reshape(b, g, c, length // chunk, chunk)
    return x.permute(4, 0, 1, 3, 2).contiguous()


def _chunks_to_tokens(x):
    """(chunk, b, g, nc, c) -> (b, g, c, nc * chunk)."""
    chunk, b, g, nc, c = x.shape
    return x.permute(1, 2, 4, 3, 0).reshape(b, g, c, nc * chunk)


class _Block:
    """One block's inputs in the chunk-major layout and its state scan.

    Layout of every block tensor: (chunk, b, g, nc, dg[, n]) -- position
    inside the chunk first, so that one step of the inner loop touches
    one contiguous slab covering every chunk of the block at once.
    """

    def __init__(self, dt, dtu, A, Bm, h0, chunk):
        # dt, dtu: (b, g, dg, Lb); Bm: (b, g, n, Lb); A: (g, dg, n)
        self.chunk = chunk
        self.dt = _tokens_to_chunks(dt, chunk)  # (t, b, g, nc, dg)
        self.dtu = _tokens_to_chunks(dtu, chunk)  # (t, b, g, nc, dg)
        self.B = _tokens_to_chunks(Bm, chunk)  # (t, b, g, nc, n)
        self.A = A[:, None]  # (g, 1, dg, n)
        self.h0 = h0  # (b, g, dg, n)

    def decay(self, out=None):
        """exp(delta * A): (t, b, g, nc, dg, n), every entry in [0, 1]."""
        out = torch.mul(self.dt.unsqueeze(-1), self.A, out=out)
        return out.exp_()

    def states(self, a, out=None):
        """All states x[l] of the block, (t, b, g, nc, dg, n).

        Args:
            a: the block's decays from :meth:`decay`.
            out: optional buffer for the result.

        Returns:
            tuple: the states and the chunk decay products
            (b, g, nc, dg, n).
        """
        x = torch.mul(self.dtu.unsqueeze(-1), self.B.unsqueeze(-2), out=out)
        # Level 1: every chunk scanned from a zero state, all at once.
        for t in range(1, self.chunk):
            x[t].addcmul_(a[t], x[t - 1])
        # Decay from the chunk start to each position; products only,
        # so a huge delta * |A| gives 0, never inf.
        cum = torch.cumprod(a, dim=0)
        chunk_decay = cum[-1].clone()
        # Level 2: true state entering each chunk, a short loop.
        carry = torch.empty_like(chunk_decay)  # (b, g, nc, dg, n)
        h = self.h0
        for c in range(carry.shape[2]):
            carry[:, :, c] = h
            h = torch.addcmul(x[-1, :, :, c], chunk_decay[:, :, c], h)
        x.addcmul_(cum, carry.unsqueeze(0))
        return x, chunk_decay


def _block_layout(tensor, groups):
    """(b, D, L) -> (b, g, dg, L) view."""
    b, dim, length = tensor.shape
    return tensor.reshape(b, groups, dim // groups, length)


class _ChunkedScan(torch.autograd.Function):
    """Selective scan with a hand-written adjoint (see module docstring)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus, chunk,
                block_chunks):
        work = torch.float64 if u.dtype == torch.float64 else torch.float32
        batch, dim, length = u.shape
        grouped = B.dim() == 4
        Bg = B if grouped else B.unsqueeze(1)
        Cg = C if C.dim() == 4 else C.unsqueeze(1)
        groups, state = Bg.shape[1], Bg.shape[2]
        if dim % groups:
            raise ValueError(f'channels ({dim}) must be divisible by the '
                             f'number of B/C groups ({groups})')

        dt, u_w, padded = _prepare(u, delta, delta_bias, softplus, chunk,
                                   work)
        Bw = _pad_tokens(Bg.to(work), padded)
        Cw = _pad_tokens(Cg.to(work), padded)
        A_g = A.to(work).reshape(groups, dim // groups, state)
        dt_g, dtu_g = _block_layout(dt, groups), _block_layout(dt * u_w,
                                                               groups)

        y = torch.empty(batch, groups, dim // groups, padded, dtype=work,
                        device=u.device)
        h = u.new_zeros(batch, groups, dim // groups, state, dtype=work)
        starts = list(range(0, padded, chunk * block_chunks))
        block_h0 = []
        buf_a = buf_x = None
        for s in starts:
            e = min(s + chunk * block_chunks, padded)
            block_h0.append(h)
            blk = _Block(dt_g[..., s:e], dtu_g[..., s:e], A_g,
                         Bw[..., s:e], h, chunk)
            buf_a, buf_x = _buffers(buf_a, buf_x, blk, state)
            a = blk.decay(out=buf_a)
            x, _ = blk.states(a, out=buf_x)
            h = x[-1, :, :, -1].clone()  # buf_x is reused by the next block
            Cb = _tokens_to_chunks(Cw[..., s:e], chunk)  # (t, b, g, nc, n)
            yb = torch.matmul(x, Cb.unsqueeze(-1)).squeeze(-1)
            y[..., s:e] = _chunks_to_tokens(yb)
        y = y.reshape(batch, dim, padded)[..., :length]
        last = h.reshape(batch, dim, state).clone()

        if D is not None:
            y = y + D.to(work)[:, None] * u_w[..., :length]
        pre_gate = y
        if z is not None:
            y = y * F.silu(z.to(work))
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias,
                              pre_gate if z is not None else None,
                              torch.stack(block_h0))
        ctx.cfg = (softplus, chunk, block_chunks, starts)
        return y.to(u.dtype), last

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        (u, delta, A, B, C, D, z, delta_bias, pre_gate,
         block_h0) = ctx.saved_tensors
        softplus, chunk, block_chunks, starts = ctx.cfg
        work = torch.float64 if u.dtype == torch.float64 else torch.float32
        batch, dim, length = u.shape
        grouped = B.dim() == 4
        Bg = B if grouped else B.unsqueeze(1)
        Cg = C if C.dim() == 4 else C.unsqueeze(1)
        groups, state = Bg.shape[1], Bg.shape[2]
        dg = dim // groups

        dt, u_w, padded = _prepare(u, delta, delta_bias, softplus, chunk,
                                   work)
        g = grad_y.to(work)
        grad_z = None
        if z is not None:
            zw = z.to(work)
            sig = torch.sigmoid(zw)
            grad_z = (g * pre_gate * sig * (1 + zw * (1 - sig))).to(z.dtype)
            g = g * zw * sig  # d out / d (y + D u)
        grad_D = None
        grad_u = torch.zeros(batch, dim, padded, dtype=work, device=u.device)
        if D is not None:
            grad_D = (g * u_w[..., :length]).sum((0, 2)).to(D.dtype)
            grad_u[..., :length] = g * D.to(work)[:, None]
        g = _pad_tokens(g, padded)

        Bw = _pad_tokens(Bg.to(work), padded)
        Cw = _pad_tokens(Cg.to(work), padded)
        A_g = A.to(work).reshape(groups, dg, state)
        dt_g = _block_layout(dt, groups)
        u_g = _block_layout(u_w, groups)
        dtu_g = _block_layout(dt * u_w, groups)
        g_g = _block_layout(g, groups)

        grad_dt = torch.empty(batch, groups, dg, padded, dtype=work,
                              device=u.device)
        grad_uB = torch.empty_like(grad_dt)  # d/d u from the drive term
        grad_B = torch.empty_like(Bw)
        grad_C = torch.empty_like(Cw)
        grad_A = torch.zeros_like(A_g)
        # mu = a[l] * lambda[l] at the first token of the following block;
        # lambda is d loss / d x.  A gradient on the last state enters here.
        if grad_last is None:
            mu = torch.zeros(batch, groups, dg, state, dtype=work,
                             device=u.device)
        else:
            mu = grad_last.to(work).reshape(batch, groups, dg, state)

        bufs = [None] * 4
        for i in reversed(range(len(starts))):
            s = starts[i]
            e = min(s + chunk * block_chunks, padded)
            blk = _Block(dt_g[..., s:e], dtu_g[..., s:e], A_g,
                         Bw[..., s:e], block_h0[i], chunk)
            bufs = _buffers_bwd(bufs, blk, state)
            buf_a, buf_x, buf_lam, buf_q = bufs
            a = blk.decay(out=buf_a)
            x, chunk_decay = blk.states(a, out=buf_x)
            gb = _tokens_to_chunks(g_g[..., s:e], chunk)  # (t, b, g, nc, dg)
            Cb = _tokens_to_chunks(Cw[..., s:e], chunk)  # (t, b, g, nc, n)
            lam = _adjoint(a, chunk_decay, gb, Cb, mu, buf_lam, buf_q)
            # Carry to the previous block: mu at this block's first token.
            mu = a[0, :, :, 0] * lam[0, :, :, 0]

            # d x[l] / d B, u, delta through the drive dt * B * u.
            s_n = torch.matmul(lam, blk.B.unsqueeze(-1)).squeeze(-1)
            ub = _tokens_to_chunks(u_g[..., s:e], chunk)
            grad_B[..., s:e] = _chunks_to_tokens(
                torch.matmul(blk.dtu.unsqueeze(-2), lam).squeeze(-2))
            grad_C[..., s:e] = _chunks_to_tokens(
                torch.matmul(gb.unsqueeze(-2), x).squeeze(-2))
            grad_uB[..., s:e] = _chunks_to_tokens(s_n * blk.dt)
            # Through the decay: d loss / d (dt * A) = lam * a * x[l - 1].
            w = a.mul_(lam)
            x_prev0 = torch.cat([blk.h0.unsqueeze(2), x[-1, :, :, :-1]],
                                dim=2)
            w[1:].mul_(x[:-1])
            w[0].mul_(x_prev0)
            dt_from_decay = torch.mul(w, blk.A, out=buf_q).sum(-1)
            grad_A += w.mul_(blk.dt.unsqueeze(-1)).sum(0).sum((0, 2))
            grad_dt[..., s:e] = _chunks_to_tokens(dt_from_decay + s_n * ub)

        grad_dt = grad_dt.reshape(batch, dim, padded)[..., :length]
        grad_u = grad_u[..., :length] + grad_uB.reshape(
            batch, dim, padded)[..., :length]
        grad_bias = None
        if softplus:
            raw = delta.to(work)
            if delta_bias is not None:
                raw = raw + delta_bias.to(work)[:, None]
            grad_dt = grad_dt * torch.sigmoid(raw)
        if delta_bias is not None:
            grad_bias = grad_dt.sum((0, 2)).to(delta_bias.dtype)
        grad_B = grad_B[..., :length]
        grad_C = grad_C[..., :length]
        if not grouped:
            grad_B = grad_B.squeeze(1)
        if C.dim() != 4:
            grad_C = grad_C.squeeze(1)
        return (grad_u.to(u.dtype), grad_dt.to(delta.dtype),
                grad_A.reshape(A.shape).to(A.dtype), grad_B.to(B.dtype),
                grad_C.to(C.dtype), grad_D, grad_z, grad_bias, None, None,
                None)


def _adjoint(a, chunk_decay, g, Cb, mu, out, buf_q):
    """Reverse-time scan for lambda[l] = d loss / d x[l] over one block.

    lambda[l] = g[l] * C[l] + a[l + 1] * lambda[l + 1], with the term
    a[L_b] * lambda[L_b] from the following block given as ``mu``.  Same
    two levels as the forward, run backwards in time.

    Args:
        a: decays (t, b, g, nc, dg, n).
        chunk_decay: product of a over each chunk, (b, g, nc, dg, n).
        g: d loss / d y, (t, b, g, nc, dg).
        Cb: C, (t, b, g, nc, n).
        mu: (b, g, dg, n).
        out, buf_q: buffers shaped like ``a``.

    Returns:
        Tensor: lambda, (t, b, g, nc, dg, n), written into ``out``.
    """
    lam = torch.mul(g.unsqueeze(-1), Cb.unsqueeze(-2), out=out)
    # q[l] = a[l + 1] * ... * a[chunk end]: decay from l to the chunk end.
    q = buf_q
    q[-1].fill_(1)
    for t in range(lam.shape[0] - 2, -1, -1):
        lam[t].addcmul_(a[t + 1], lam[t + 1])
        torch.mul(a[t + 1], q[t + 1], out=q[t])
    # Chunk level: rho[c] = a * lambda at the first token of chunk c + 1.
    nc = lam.shape[3]
    rho = torch.empty_like(chunk_decay)
    r = mu
    for c in range(nc - 1, -1, -1):
        rho[:, :, c] = r
        # a[0] * lam[0] = a[0] * lam_local[0] + chunk_decay * r
        r = torch.addcmul(a[0, :, :, c] * lam[0, :, :, c],
                          chunk_decay[:, :, c], r)
    lam.addcmul_(q, rho.unsqueeze(0))
    return lam


def _prepare(u, delta, delta_bias, softplus, chunk, work):
    """Effective step sizes and u in the work dtype, padded to chunks.

    Padding tokens get dt = 0, i.e. decay 1 and no input: they carry the
    state through unchanged and receive no gradient.
    """
    dt = delta.to(work)
    if delta_bias is not None:
        dt = dt + delta_bias.to(work)[:, None]
    if softplus:
        dt = F.softplus(dt)
    length = u.shape[-1]
    padded = -(-length // chunk) * chunk
    return (_pad_tokens(dt, padded), _pad_tokens(u.to(work), padded),
            padded)


def _pad_tokens(x, padded):
    """Zero-pad the last (token) dimension to ``padded``."""
    extra = padded - x.shape[-1]
    return F.pad(x, (0, extra)) if extra else x


def _buffers(buf_a, buf_x, blk, state):
    """Reuse the block buffers while the block shape stays the same."""
    shape = blk.dt.shape + (state, )
    if buf_a is None or buf_a.shape != shape:
        buf_a = blk.dt.new_empty(shape)
        buf_x = blk.dt.new_empty(shape)
    return buf_a, buf_x


def _buffers_bwd(bufs, blk, state):
    shape = blk.dt.shape + (state, )
    if bufs[0] is None or bufs[0].shape != shape:
        bufs = [blk.dt.new_empty(shape) for _ in range(4)]
    return bufs
