"""Multi-order scan: K scan orders of one clip, scanned and merged.

References:
    * MzeroMiko/VMamba ``SS2Dv2.forward_corev2``: per-direction parameters
      stacked along K and one scan call for all directions (K folded into
      channels, B/C grouped per direction).  ``csm_triton.py`` there keeps
      a torch and a Triton cross-scan behind one dispatcher.  Both ideas
      are reused here, written anew for space-time orders.
    * ``docs/design.md``, "Multi-order scan": the contract below.

The generic route is gather -> one grouped :func:`selective_scan` (G = K)
-> inverse gather -> sum of each forward/reverse pair.  A fused backend
(``mmpose_stmamba.ops.scan_triton``, optional, GPU) replaces the whole
unit; it is looked up lazily and used only where it says it supports the
case.
"""
import functools
import importlib
import importlib.util
import os
from typing import NamedTuple

import torch

from .scan_orders import (gather_orders, get_orders, merge_pairs,
                          normalize_orders)
from .selective_scan import _BACKENDS, ENV_BACKEND, selective_scan

_FUSED_MODULE = 'mmpose_stmamba.ops.scan_triton'
_FUSED_FN = 'multi_order_scan_triton'

# Whether 'auto' takes the fused kernel where it can run.  Its default
# (channel-per-lane) kernel runs one warp per (batch, 16-32 channels,
# order) and walks the whole sequence, so its speed follows B * Dm * K, not
# L.  Measured on one H100 (docs/benchmark.md, runs 6-8), against the
# six-copies route through mamba-ssm, fwd+bwd:
#   B * Dm * K = 32 * 512 * 6 = 98,304: 152 vs 264 ms (scan alone);
#   32 * 192 * 6 = 36,864: 97 vs 101 ms (scan), 248.6 vs 257.2 (GSM block);
#   32 * 256 * 6 = 49,152: 284.7 vs 325.3 ms (GSM block, width 256);
#   8 * 192 * 6 = 9,216 (the neck at batch 8): 535 vs 330 ms (whole neck).
# So 'auto' takes it where mamba-ssm is not installed (it is ~25x faster
# than the torch backend at any size) or where B * Dm * K >= FUSED_MIN_WORK,
# just below the smallest size at which it was measured to win; it always
# needs less memory (0.61-0.66x).  Run 11 (the kernel made faster, same
# rule): 99 vs 264 ms at 98,304 and 58 vs 100 ms at 36,864.  Run 13 (H200,
# the sequence split into parts automatically, SEQ_PARTS): the whole neck
# at batch 8 (GSM scans 8 * 192 * 6 = 9,216, LRM scans 8 * 192 * 2 =
# 3,072) 175.8 vs 214.4 ms, so the bound came down to 9,216, the smallest
# size measured to win on its own; smaller calls (the LRM scans at batch 8
# were timed only inside that neck, single clips) keep mamba-ssm.
# STMAMBA_FUSED_SCAN=1 always prefers it, =0 never; an explicit
# backend='triton' is not affected.
FUSED_MIN_WORK = 9216
ENV_FUSED = 'STMAMBA_FUSED_SCAN'


class LowRankDelta(NamedTuple):
    """Per-order step sizes given by their low-rank factors.

    ``delta[b, k, d, l] = sum_r weight[k, d, r] * low[b, l, k, r]``: what
    Mamba's dt projection computes from its rank-R bottleneck.  Passed as
    ``delta`` to :func:`multi_order_scan`, it lets the fused route keep
    only ``low`` (R / Dm of delta's size: 1/16 with ``dt_rank='auto'``)
    for the backward and expand delta again there, instead of keeping the
    (B, K, Dm, L) tensor (1.1 GB at GLSMamba-B's size and batch 32).  The
    generic route expands it once and proceeds as with a tensor.

    Attributes:
        low (Tensor): (B, L, K, R), token-major (the x projection's
            layout).
        weight (Tensor): (K, Dm, R).
    """
    low: torch.Tensor
    weight: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        """The expanded delta's shape, (B, K, Dm, L)."""
        batch, length, k, _ = self.low.shape
        return torch.Size((batch, k, self.weight.shape[1], length))

    def expand(self) -> torch.Tensor:
        """delta, (B, K, Dm, L) as a view of (B, L, K, Dm) memory (the
        fused kernel's layout)."""
        return expand_low_rank(self.low, self.weight).permute(0, 2, 3, 1)


def expand_low_rank(low: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """einsum('blkr,kdr->blkd', low, weight), (B, L, K, Dm).

    On CUDA all K as one (B*L, K*R) x (K*R, K*Dm) product with the
    block-diagonal weight (K times the multiply-adds, a few GFLOP at the
    GSM block's size): the per-order einsum runs a batched matmul whose
    inner size R (12 at Dm 192) the tensor cores take unaligned, 9.8 ms
    fwd+bwd against 3.2 (H200, B 32, L 15,360, Dm 192; docs/benchmark.md,
    run 16).  Elsewhere the einsum, which does not multiply the zeros (and
    is what the FLOP count traces).
    """
    if not low.is_cuda:
        return torch.einsum('blkr,kdr->blkd', low, weight)
    return block_diagonal_product(low, weight)


def block_diagonal_product(low: torch.Tensor,
                           weight: torch.Tensor) -> torch.Tensor:
    """:func:`expand_low_rank` as one matmul with the (K*R, K*Dm)
    block-diagonal weight (its CUDA path, on any device)."""
    batch, length = low.shape[:2]
    blocks = torch.block_diag(*weight.transpose(1, 2))
    return (low.reshape(batch, length, -1) @ blocks).view(
        batch, length, weight.shape[0], -1)


@functools.lru_cache(maxsize=None)
def _load_fused():
    """(module, None) for the fused Triton backend, or (None, reason)."""
    try:
        module = importlib.import_module(_FUSED_MODULE)
    except ModuleNotFoundError as err:
        if err.name == _FUSED_MODULE:
            return None, f'{_FUSED_MODULE} is not part of this install'
        return None, f'{type(err).__name__}: {err}'
    except Exception as err:  # Triton present but broken, etc.
        return None, f'{type(err).__name__}: {err}'
    if not hasattr(module, _FUSED_FN):
        return None, f'{_FUSED_MODULE} has no {_FUSED_FN}()'
    return module, None


def multi_order_scan(u,
                     delta,
                     A,
                     B,
                     C,
                     D=None,
                     delta_bias=None,
                     delta_softplus=True,
                     *,
                     orders,
                     grid,
                     window=(8, 6),
                     unified_layout='wide_rows',
                     backend='auto'):
    """Scan a clip in K orders and merge each forward/reverse pair.

    Order k runs a selective scan over the tokens in the sequence of
    ``perm[k]`` with its own delta, B, C and its own Dm rows of A, D
    and delta_bias; its output is put back in canonical order; orders
    k and k + K/2 are summed.

    Args:
        u (Tensor): tokens in canonical (t, h, w) order, (B, Dm, L), shared
            by all orders.
        delta (Tensor | LowRankDelta): per-order step sizes, canonical
            order, (B, K, Dm, L), or their low-rank factors (the fused
            route then keeps only those for the backward).
        A (Tensor): (K*Dm, N), float32; rows [k*Dm, (k+1)*Dm) for order k.
        B (Tensor): per-order input projections, canonical, (B, K, N, L).
        C (Tensor): per-order output projections, canonical, (B, K, N, L).
        D (Tensor, optional): skip weights, (K*Dm,). Defaults to None.
        delta_bias (Tensor, optional): (K*Dm,). Defaults to None.
        delta_softplus (bool): softplus on delta. Defaults to True.
        orders (str | Sequence[str]): ``'sts6d'``, ``'wsts'`` or order
            names (:mod:`.scan_orders`); K = len(orders), even.
        grid (tuple[int, int, int]): (T, H, W) with T*H*W = L.
        window (tuple[int, int]): WSTS window (wh, ww). Defaults to (8, 6).
        unified_layout (str): panorama layout of ``'unified'``.
            Defaults to ``'wide_rows'``.
        backend (str): ``'auto'``; ``'triton'`` (fused, CUDA); or a
            selective-scan backend (``'ref'``, ``'torch'``,
            ``'mamba_ssm'``) for the generic route.  ``'auto'`` takes
            ``'triton'`` for CUDA tensors when it imports and supports
            the case, else the generic route with the selective-scan
            ``'auto'``.  The environment variable ``STMAMBA_SCAN_BACKEND``
            replaces ``'auto'``. Defaults to ``'auto'``.

    Returns:
        Tensor: (B, K//2, Dm, L) in canonical order and u's dtype; for
        ``'sts6d'`` the pairs are (unified, spatial, temporal).
    """
    names = normalize_orders(orders)
    T, H, W = _check_inputs(u, delta, A, B, C, D, delta_bias, names, grid)
    kwargs = dict(orders=names, grid=(T, H, W), window=window,
                  unified_layout=unified_layout)
    name = _resolve(backend, u, delta, A, B, C, D, delta_bias,
                    delta_softplus, kwargs)
    if name == 'triton':
        fused = _load_fused()[0]
        return getattr(fused, _FUSED_FN)(u, delta, A, B, C, D, delta_bias,
                                         delta_softplus, **kwargs)

    if isinstance(delta, LowRankDelta):
        delta = delta.expand()
    # The fused kernel reads any strides (channels-last is its fast layout);
    # the gathers below want the token axis contiguous.
    u, delta, B, C = (x.contiguous() for x in (u, delta, B, C))
    batch, dim, length = u.shape
    K = len(names)
    perm, inv = get_orders(names, T, H, W, window, unified_layout, u.device)
    us = gather_orders(u, perm, inv)  # (B, K*Dm, L)
    ds = gather_orders(delta, perm, inv).reshape(batch, K * dim, length)
    Bs = gather_orders(B, perm, inv)  # (B, K, N, L): group k = order k
    Cs = gather_orders(C, perm, inv)
    y = selective_scan(us, ds, A, Bs, Cs, D=D, delta_bias=delta_bias,
                       delta_softplus=delta_softplus, backend=name)
    return merge_pairs(y, inv, K, perm)  # (B, K//2, Dm, L)


def _resolve(backend, u, delta, A, B, C, D, delta_bias, delta_softplus,
             kwargs):
    """'triton', or the selective-scan backend of the generic route."""
    source = 'backend'
    if backend == 'auto' and os.environ.get(ENV_BACKEND):
        backend, source = os.environ[ENV_BACKEND], ENV_BACKEND
    if backend == 'triton':
        # Explicit request: the module decides what it supports (its own
        # tests run it on CPU through Triton's interpreter).
        fused, why = _load_fused()
        if fused is None:
            raise RuntimeError('multi_order_scan backend \'triton\' is not '
                               f'available: {why}')
        if not _fused_supports(fused, u, delta, A, B, C, D, delta_bias,
                               delta_softplus, kwargs):
            raise RuntimeError('multi_order_scan backend \'triton\' does '
                               'not support these inputs (device '
                               f'{u.device}, dtype {u.dtype}); see '
                               f'{_FUSED_MODULE}.is_supported')
        return 'triton'
    if backend == 'auto':
        # Never on CPU: the fused kernels are a GPU fast path.
        if u.is_cuda:
            fused = _load_fused()[0]
            if fused is not None and hasattr(
                    fused, 'is_supported') and _auto_takes_fused(
                        delta.shape[0] * delta.shape[1] * delta.shape[2]
                    ) and _fused_supports(fused, u, delta, A, B, C, D,
                                          delta_bias, delta_softplus,
                                          kwargs):
                return 'triton'
        return 'auto'
    if backend not in _BACKENDS:
        raise ValueError(f'{source}={backend!r} is not a multi-order scan '
                         f'backend; choose \'auto\', \'triton\' or one of '
                         f'{sorted(_BACKENDS)}')
    return backend


def _auto_takes_fused(work: int) -> bool:
    """'auto' policy for the fused kernel; ``work`` = B * K * Dm.

    See ``FUSED_MIN_WORK`` and ``ENV_FUSED``.
    """
    prefer = os.environ.get(ENV_FUSED, 'auto')
    if prefer in ('0', '1'):
        return prefer == '1'
    return not _mamba_ssm_installed() or work >= FUSED_MIN_WORK


@functools.lru_cache(maxsize=1)
def _mamba_ssm_installed():
    # find_spec does not import (mamba-ssm's import pulls in a lot).
    return importlib.util.find_spec('selective_scan_cuda') is not None


def _fused_supports(fused, u, delta, A, B, C, D, delta_bias,
                    delta_softplus, kwargs):
    supported = getattr(fused, 'is_supported', None)
    return supported is None or bool(
        supported(u, delta, A, B, C, D, delta_bias, delta_softplus,
                  **kwargs))


def _check_inputs(u, delta, A, B, C, D, delta_bias, names, grid):
    """Shape checks; returns (T, H, W).  ValueError names the argument."""
    if u.dim() != 3:
        raise ValueError(f'u must be (B, Dm, L), got {tuple(u.shape)}')
    batch, dim, length = u.shape
    K = len(names)
    if len(grid) != 3 or grid[0] * grid[1] * grid[2] != length:
        raise ValueError(f'grid={tuple(grid)} must be (T, H, W) with '
                         f'T*H*W = L = {length}')
    if isinstance(delta, LowRankDelta):
        _check_low_rank(delta, batch, K, dim, length)
    elif tuple(delta.shape) != (batch, K, dim, length):
        raise ValueError(f'delta must be ({batch}, {K}, {dim}, {length}), '
                         f'got {tuple(delta.shape)}')
    if A.dim() != 2 or A.shape[0] != K * dim:
        raise ValueError(f'A must be ({K * dim}, N), got {tuple(A.shape)}')
    state = A.shape[1]
    for name, t in (('B', B), ('C', C)):
        if tuple(t.shape) != (batch, K, state, length):
            raise ValueError(f'{name} must be ({batch}, {K}, {state}, '
                             f'{length}), got {tuple(t.shape)}')
    for name, t in (('D', D), ('delta_bias', delta_bias)):
        if t is not None and tuple(t.shape) != (K * dim, ):
            raise ValueError(f'{name} must be ({K * dim},), got '
                             f'{tuple(t.shape)}')
    return tuple(int(v) for v in grid)


def _check_low_rank(delta, batch, K, dim, length):
    low, weight = delta
    if low.dim() != 4 or tuple(low.shape[:3]) != (batch, length, K):
        raise ValueError(f'delta.low must be ({batch}, {length}, {K}, R), '
                         f'got {tuple(low.shape)}')
    if tuple(weight.shape) != (K, dim, low.shape[3]):
        raise ValueError(f'delta.weight must be ({K}, {dim}, '
                         f'{low.shape[3]}), got {tuple(weight.shape)}')
