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
  scan and an analytic backward (a reverse-time adjoint scan).  The
  sequence is cut into blocks of a few hundred tokens and each block into
  chunks.  Per block: (1) every chunk is scanned from a zero state, all
  chunks at once, keeping only the chunk-end states; (2) a short loop
  over the chunks joins them, giving each chunk's true initial state;
  (3) every chunk is rescanned from its true state.  The Python loops run
  over positions inside a chunk and over chunks, never over L, and each
  step is one vectorised op on a (B, D, chunks, N) slab.  Only decays
  ``exp(delta * A)`` and ``exp(A * sum(delta))`` (each <= 1 for A <= 0)
  are formed, never their inverses, so a large ``delta * |A|`` underflows
  to an exact zero instead of overflowing: no inf, no NaN.  The backward
  recomputes each block's states from the block's saved initial state,
  so nothing of size (B, D, L, N) is kept; temporaries are
  (B, D, L_block, N).

Inferred/undocumented choices: A is real (mamba's complex A is not
supported); the stability guarantee assumes ``A <= 0`` as in every Mamba
parametrisation (``A = -exp(A_log)``).
"""
import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

# State elements (of B * D * L_block * N) per block.  2**21 fp32 values
# are 8 MiB per buffer and the backward holds six, so a (1, 384, 15360,
# 16) scan peaks near 50 MiB of temporaries instead of GiBs.  The scan is
# memory-bound on a CPU; 2**20 .. 2**22 measured alike (docs/ops.md).
_BLOCK_ELEMS = 1 << 21
# On a GPU every loop step is a kernel launch and memory is plentiful:
# 2**25 (128 MiB per fp32 buffer) keeps the step count low.
_BLOCK_ELEMS_CUDA = 1 << 25


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
            Defaults to a block of about 2**21 state elements on CPU
            and 2**25 on CUDA.
    """
    if torch.is_complex(A):
        raise TypeError('selective_scan_torch: complex A is not supported')
    batch, dim, length = u.shape
    state = A.shape[1]
    for name, value in (('chunk_size', chunk_size),
                        ('block_chunks', block_chunks)):
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f'{name}={value!r} must be a positive integer')
    tiling = _tiling(length, batch * dim * state, chunk_size, block_chunks,
                     _BLOCK_ELEMS_CUDA if u.is_cuda else _BLOCK_ELEMS)
    # Autocast would run the read-out matmuls in half precision; the
    # Function casts to fp32 itself, so switch it off around the scan.
    with torch.autocast(u.device.type, enabled=False):
        y, last = _ChunkedScan.apply(u, delta, A, B, C, D, z, delta_bias,
                                     bool(delta_softplus), tiling)
    return (y, last) if return_last_state else y


def _tiling(length, state_per_token, chunk_size=None, block_chunks=None,
            block_elems=_BLOCK_ELEMS):
    """Split L tokens into blocks of chunks: (n_blocks, chunk, chunks).

    Args:
        length (int): L.
        state_per_token (int): B * D * N, the state elements per token.
        chunk_size (int, optional): tokens per chunk; by default about the
            square root of the block length: the inner loop costs
            ``chunk`` steps per block and the join loop ``chunks``, and
            their product is fixed by the block size.
        block_chunks (int, optional): chunks per block; by default a
            block holds about ``block_elems`` state elements.
        block_elems (int): state elements per block.

    Returns:
        tuple[int, int, int]: blocks, chunk length, chunks per block; the
        padded length blocks * chunk * chunks exceeds L by less than
        blocks * chunk tokens.
    """
    block_len = min(length, max(1, block_elems // max(1, state_per_token)))
    # Below 8 tokens per chunk the per-step overhead dominates.
    chunk = chunk_size or min(length, max(8, int(math.sqrt(block_len))))
    chunks = block_chunks or max(1, block_len // chunk)
    blocks = -(-length // (chunk * chunks))
    # Same number of blocks, as few padding tokens as possible.
    chunks = min(chunks, -(-length // (blocks * chunk)))
    return blocks, chunk, chunks


def _per_channel(BC, dim):
    """Expand B or C, (B, N, L) or (B, G, N, L), to (B, D, N, L)."""
    if BC.dim() == 3:
        BC = BC.unsqueeze(1)
    groups = BC.shape[1]
    return BC.repeat_interleave(dim // groups, dim=1)


def _to_blocks(x, tiling):
    """(b, g, c, L_pad) -> (blocks, chunk, b, g, chunks, c), one copy.

    Position inside the chunk comes right after the block index, so that
    one step of the inner loop reads one contiguous slab covering every
    chunk of the block.
    """
    blocks, chunk, chunks = tiling
    b, g, c, _ = x.shape
    x = x.reshape(b, g, c, blocks, chunks, chunk)
    return x.permute(3, 5, 0, 1, 4, 2).contiguous()


def _from_blocks(x):
    """(blocks, chunk, b, g, chunks, c) -> (b, g, c, L_pad)."""
    blocks, chunk, b, g, chunks, c = x.shape
    return x.permute(2, 3, 5, 0, 4, 1).reshape(b, g, c,
                                               blocks * chunks * chunk)


def _decay(dt, A, out):
    """exp(dt * A), (chunk, b, g, chunks, dg, n), entries in [0, 1].

    dt is (chunk, b, g, chunks, dg), A is (g, 1, dg, n).
    """
    return torch.mul(dt.unsqueeze(-1), A, out=out).exp_()


def _states(a, dt, dtu, Bm, A, h0, out, tmp):
    """All states x[l] of one block, (chunk, b, g, chunks, dg, n).

    Args:
        a: decays from :func:`_decay`.
        dt, dtu: dt and dt * u, (chunk, b, g, chunks, dg).
        Bm: B, (chunk, b, g, chunks, n).
        A: (g, 1, dg, n).
        h0: the state entering the block, (b, g, dg, n).
        out: buffer like ``a`` for the result.
        tmp: two buffers of one slab, (b, g, chunks, dg, n).

    Returns:
        tuple: the states (in ``out``) and the decay over each whole
        chunk, (b, g, chunks, dg, n).
    """
    x = torch.mul(dtu.unsqueeze(-1), Bm.unsqueeze(-2), out=out)  # drive
    chunk = x.shape[0]
    # Pass 1: the state at each chunk end when the chunk starts from 0,
    # all chunks at once.  Only one slab is written per step.
    end = x[0]
    for t in range(1, chunk):
        end = torch.addcmul(x[t], a[t], end, out=tmp[t % 2])
    # Decay across a whole chunk, exp(A * sum(dt)) <= 1: no overflow for
    # any delta * |A|, it just reaches 0.
    chunk_decay = torch.mul(dt.sum(0).unsqueeze(-1), A).exp_()
    # Join: the true state entering each chunk, a short loop.
    carry = torch.empty_like(chunk_decay)
    h = h0
    for c in range(carry.shape[2]):
        carry[:, :, c] = h
        h = torch.addcmul(end[:, :, c], chunk_decay[:, :, c], h)
    # Pass 2: rerun each chunk from its true initial state, in place.
    x[0].addcmul_(a[0], carry)
    for t in range(1, chunk):
        x[t].addcmul_(a[t], x[t - 1])
    return x, chunk_decay


def _adjoint(lam, a, chunk_decay, mu, tmp):
    """Reverse-time scan for lambda[l] = d loss / d x[l], in place.

    lambda[l] = g[l] C[l] + a[l + 1] lambda[l + 1]; on entry ``lam`` holds
    g[l] C[l].  ``mu`` is a[l + 1] lambda[l + 1] for the block's last
    token, i.e. what the following block sends back.  Same two passes
    and join as :func:`_states`, backwards in time.

    Args:
        lam: (chunk, b, g, chunks, dg, n).
        a: decays, same shape.
        chunk_decay: (b, g, chunks, dg, n).
        mu: (b, g, dg, n).
        tmp: two buffers of one slab.

    Returns:
        Tensor: a[0] * lambda[0] of the block's first token, the ``mu`` of
        the previous block.
    """
    chunk = lam.shape[0]
    start = lam[chunk - 1]
    for t in range(chunk - 2, -1, -1):
        start = torch.addcmul(lam[t], a[t + 1], start, out=tmp[t % 2])
    # Join, right to left: rho[c] = a lambda at the first token of chunk
    # c + 1; a[0] lambda[0] = a[0] lambda_local[0] + chunk_decay * rho.
    first = a[0] * start
    rho = torch.empty_like(chunk_decay)
    m = mu
    for c in range(rho.shape[2] - 1, -1, -1):
        rho[:, :, c] = m
        m = torch.addcmul(first[:, :, c], chunk_decay[:, :, c], m)
    lam[chunk - 1].add_(rho)
    for t in range(chunk - 2, -1, -1):
        lam[t].addcmul_(a[t + 1], lam[t + 1])
    return m


class _ChunkedScan(torch.autograd.Function):
    """Selective scan with a hand-written adjoint (see module docstring)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus,
                tiling):
        p = _Prepared(u, delta, A, B, C, delta_bias, softplus, tiling)
        dt, dtu = p.blocks(p.dt), p.blocks(p.dt * p.u)
        Bb, Cb = p.blocks(p.B), p.blocks(p.C)
        y = dt.new_empty(dt.shape)  # (blocks, chunk, b, g, chunks, dg)
        h = p.u.new_zeros(p.batch, p.groups, p.dg, p.state)
        block_h0 = []
        bufs = p.buffers(4)
        for i in range(tiling[0]):
            block_h0.append(h)
            a = _decay(dt[i], p.A, out=bufs[0])
            x, _ = _states(a, dt[i], dtu[i], Bb[i], p.A, h, bufs[1],
                           bufs[2:])
            # (1, n) @ (n, dg): the row-vector form is several times
            # faster on CPU than (dg, n) @ (n, 1) with tiny matrices.
            y[i] = torch.matmul(Cb[i].unsqueeze(-2),
                                x.transpose(-1, -2)).squeeze(-2)
            h = x[-1, :, :, -1].clone()  # the buffers are reused
        y = p.tokens(y)
        last = h.reshape(p.batch, p.dim, p.state)

        if D is not None:
            y = y + D.to(p.work)[:, None] * p.u[..., :p.length]
        pre_gate = y
        if z is not None:
            y = y * F.silu(z.to(p.work))
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias,
                              pre_gate if z is not None else None,
                              torch.stack(block_h0))
        ctx.cfg = (softplus, tiling)
        return y.to(u.dtype), last

    @staticmethod
    @once_differentiable  # the adjoint works in place on buffers
    def backward(ctx, grad_y, grad_last):
        (u, delta, A, B, C, D, z, delta_bias, pre_gate,
         block_h0) = ctx.saved_tensors
        softplus, tiling = ctx.cfg
        with torch.autocast(u.device.type, enabled=False):
            return _ChunkedScan._backward(u, delta, A, B, C, D, z,
                                          delta_bias, pre_gate, block_h0,
                                          softplus, tiling, grad_y,
                                          grad_last)

    @staticmethod
    def _backward(u, delta, A, B, C, D, z, delta_bias, pre_gate, block_h0,
                  softplus, tiling, grad_y, grad_last):
        p = _Prepared(u, delta, A, B, C, delta_bias, softplus, tiling)

        g = grad_y.to(p.work)
        grad_z = grad_D = grad_bias = None
        if z is not None:
            zw = z.to(p.work)
            sig = torch.sigmoid(zw)
            grad_z = (g * pre_gate * sig * (1 + zw * (1 - sig))).to(z.dtype)
            g = g * zw * sig  # d loss / d (y + D u)
        grad_u = 0
        if D is not None:
            grad_D = (g * p.u[..., :p.length]).sum((0, 2)).to(D.dtype)
            grad_u = g * D.to(p.work)[:, None]

        dt, dtu, ub = p.blocks(p.dt), p.blocks(p.dt * p.u), p.blocks(p.u)
        Bb, Cb = p.blocks(p.B), p.blocks(p.C)
        gb = p.blocks(_pad_tokens(g, p.padded))
        grad_dt = torch.empty_like(dt)
        grad_ud = torch.empty_like(dt)  # d loss / d u through the drive
        grad_B = torch.empty_like(Bb)
        grad_C = torch.empty_like(Cb)
        grad_A = p.u.new_zeros(p.groups, p.dg, p.state)
        # mu = a[l + 1] * lambda[l + 1] entering a block from its right; a
        # gradient on the returned last state enters the last block.
        if grad_last is None:
            mu = p.u.new_zeros(p.batch, p.groups, p.dg, p.state)
        else:
            mu = grad_last.to(p.work).reshape(p.batch, p.groups, p.dg,
                                              p.state)
        bufs = p.buffers(6)
        for i in reversed(range(tiling[0])):
            h0 = block_h0[i]
            a = _decay(dt[i], p.A, out=bufs[0])
            x, chunk_decay = _states(a, dt[i], dtu[i], Bb[i], p.A, h0,
                                     bufs[1], bufs[4:])
            lam = torch.mul(gb[i].unsqueeze(-1), Cb[i].unsqueeze(-2),
                            out=bufs[2])
            mu = _adjoint(lam, a, chunk_decay, mu, bufs[4:])

            # Through the drive dt * B * u: s = sum_n lambda B.
            s = torch.matmul(Bb[i].unsqueeze(-2),
                             lam.transpose(-1, -2)).squeeze(-2)
            grad_B[i] = torch.matmul(dtu[i].unsqueeze(-2), lam).squeeze(-2)
            grad_C[i] = torch.matmul(gb[i].unsqueeze(-2), x).squeeze(-2)
            grad_ud[i] = s * dt[i]
            # Through the decay: d loss / d (dt A) = lambda a x[l - 1].
            w = a.mul_(lam)
            w[1:].mul_(x[:-1])
            w[0].mul_(torch.cat([h0.unsqueeze(2), x[-1, :, :, :-1]], 2))
            grad_dt[i] = torch.mul(w, p.A, out=bufs[3]).sum(-1) + s * ub[i]
            grad_A += w.mul_(dt[i].unsqueeze(-1)).sum(0).sum((0, 2))

        grad_dt = p.tokens(grad_dt)
        grad_u = (grad_u + p.tokens(grad_ud)).to(u.dtype)
        if softplus:
            raw = delta.to(p.work)
            if delta_bias is not None:
                raw = raw + delta_bias.to(p.work)[:, None]
            grad_dt = grad_dt * torch.sigmoid(raw)
        if delta_bias is not None:
            grad_bias = grad_dt.sum((0, 2)).to(delta_bias.dtype)
        grad_B = _from_blocks(grad_B)[..., :p.length]
        grad_C = _from_blocks(grad_C)[..., :p.length]
        if B.dim() == 3:
            grad_B = grad_B.squeeze(1)
        if C.dim() == 3:
            grad_C = grad_C.squeeze(1)
        return (grad_u, grad_dt.to(delta.dtype),
                grad_A.reshape(A.shape).to(A.dtype), grad_B.to(B.dtype),
                grad_C.to(C.dtype), grad_D, grad_z, grad_bias, None, None)


class _Prepared:
    """Inputs of one call in the work dtype, padded, grouped layout.

    Padding tokens get dt = 0: decay 1 and no input, so they carry the
    state through unchanged and receive no gradient.
    """

    def __init__(self, u, delta, A, B, C, delta_bias, softplus, tiling):
        self.work = torch.float64 if u.dtype == torch.float64 \
            else torch.float32
        self.batch, self.dim, self.length = u.shape
        Bg = B if B.dim() == 4 else B.unsqueeze(1)
        Cg = C if C.dim() == 4 else C.unsqueeze(1)
        # A shared B/C broadcasts over a grouped C/B.
        self.groups = max(Bg.shape[1], Cg.shape[1])
        self.state = A.shape[1]
        self.dg = self.dim // self.groups
        self.tiling = tiling
        self.padded = tiling[0] * tiling[1] * tiling[2]
        dt = delta.to(self.work)
        if delta_bias is not None:
            dt = dt + delta_bias.to(self.work)[:, None]
        if softplus:
            dt = F.softplus(dt)
        self.dt = _pad_tokens(dt, self.padded)  # (b, D, L_pad)
        self.u = _pad_tokens(u.to(self.work), self.padded)
        bc_shape = (self.batch, self.groups, self.state, self.padded)
        self.B = _pad_tokens(Bg.to(self.work), self.padded).expand(bc_shape)
        self.C = _pad_tokens(Cg.to(self.work), self.padded).expand(bc_shape)
        self.A = A.to(self.work).reshape(self.groups, 1, self.dg,
                                         self.state)

    def blocks(self, x):
        """(b, D or g, c, L_pad) -> (blocks, chunk, b, g, chunks, c)."""
        if x.dim() == 3:
            x = x.reshape(self.batch, self.groups, self.dg, self.padded)
        return _to_blocks(x, self.tiling)

    def tokens(self, x):
        """(blocks, chunk, b, g, chunks, dg) -> (b, D, L), padding cut."""
        x = _from_blocks(x).reshape(self.batch, self.dim, self.padded)
        return x[..., :self.length]

    def buffers(self, count):
        """Block buffers: ``count - 2`` of a block, then 2 of one slab."""
        _, chunk, chunks = self.tiling
        shape = (chunk, self.batch, self.groups, chunks, self.dg,
                 self.state)
        big = [
            self.u.new_empty(shape) for _ in range(count - 2)
        ]
        return big + [self.u.new_empty(shape[1:]) for _ in range(2)]


def _pad_tokens(x, padded):
    """Zero-pad the last (token) dimension to ``padded``."""
    extra = padded - x.shape[-1]
    return F.pad(x, (0, extra)) if extra else x
