# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Fused multi-order selective scan for STS6D / WSTS (Triton, CUDA).

The op: one call replaces gather -> grouped selective scan -> inverse gather
-> pair sum of the generic ``multi_order_scan`` (docs/design.md), with no
permuted copy of anything.  This module checks the inputs, builds the
orders' permutation table and calls the kernels of
:mod:`.scan_triton_seq` (channel per lane, states inside the thread, token
after token; their design and measurements: that module and
docs/benchmark.md).

References:
    * Gu & Dao, "Mamba" (2023): the selective scan h_i = exp(dt_i A) h_{i-1}
      + dt_i B_i u_i, y_i = C_i h_i + D u_i.
    * Liu et al., "VMamba" (MzeroMiko/VMamba, ``csm_triton.py``): the idea of
      doing the cross-scan (gather of several orders) and the cross-merge
      inside a Triton kernel instead of permuted copies.  VMamba only fuses
      the gather / merge; here the scan itself is fused with them.
    * docs/design.md of this repository: token layout, scan orders and the
      ``multi_order_scan`` contract this module implements.

History: the first fused kernels (tiles of chunk x channels x states over
Triton's associative scan) were replaced by the channel-per-lane kernels
after run 6 of docs/benchmark.md (562 -> 152 ms forward+backward at
6 x 512 channels on one H100); their numbers stay in that page.
"""
import functools
import os
from typing import Optional, Sequence, Tuple, Union

import torch

from .multi_scan import LowRankDelta

try:  # Triton ships with CUDA builds of torch; stay importable without it.
    import triton
    _TRITON_ERROR = None
except ImportError as err:  # pragma: no cover - depends on the install
    triton = None
    _TRITON_ERROR = err

__all__ = ['multi_order_scan_triton', 'is_supported', 'TRITON_AVAILABLE']

TRITON_AVAILABLE = triton is not None

_MODES = {
    'sts6d': ('unified', 'spatial', 'temporal', 'unified_rev', 'spatial_rev',
              'temporal_rev'),
    'wsts': ('window', 'window_rev'),
}
#: Largest state size N (padded to a power of two inside the op).
MAX_STATE = 64


def _expand_orders(orders: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    if isinstance(orders, str):
        if orders not in _MODES:
            raise ValueError(f'orders={orders!r}: expected one of '
                             f'{sorted(_MODES)} or a list of order names')
        return _MODES[orders]
    return tuple(orders)


def _are_pairs(orders: Tuple[str, ...]) -> bool:
    """Whether the orders are (f0, .., fP-1, f0_rev, .., fP-1_rev)."""
    k = len(orders)
    if k == 0 or k % 2:
        return False
    npair = k // 2
    return all(
        orders[p + npair] == orders[p] + '_rev'
        and not orders[p].endswith('_rev') for p in range(npair))


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
    in the contract, K orders given as forward/reverse pairs and
    N <= 64.  Whether ``'auto'`` prefers it to the generic route is the
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
    low_rank = isinstance(delta, LowRankDelta)
    steps = ((('delta.low', delta.low), ('delta.weight', delta.weight))
             if low_rank else (('delta', delta), ))
    for name, t in (('u', u), *steps, ('B', B), ('C', C)):
        if t.dtype not in floats:
            return f'{name}.dtype={t.dtype} is not float32/bfloat16/float16'
        if t.device != u.device:
            return f'{name} is on {t.device}, u on {u.device}'
    try:
        names = _expand_orders(orders)
    except ValueError as err:
        return str(err)
    if not _are_pairs(names):
        return (f'orders={names!r} are not forward/reverse pairs '
                '(f0, f1, .., f0_rev, f1_rev, ..)')
    if low_rank and (delta.low.dim() != 4 or delta.weight.dim() != 3
                     or delta.low.shape[3] != delta.weight.shape[2]):
        return ('expected delta.low (B, L, K, R) and delta.weight '
                f'(K, Dm, R), got {tuple(delta.low.shape)} and '
                f'{tuple(delta.weight.shape)}')
    if u.dim() != 3 or len(delta.shape) != 4 or B.dim() != 4 or C.dim() != 4:
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
    if tuple(A.shape) != (k * dm, n) or n > MAX_STATE:
        return (f'A.shape={tuple(A.shape)}: expected ({k * dm}, '
                f'N<={MAX_STATE})')
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
    delta (or its factors), A, B, C, D and delta_bias.

    Args:
        u (Tensor): (B, Dm, L) features in canonical (t, h, w) token order,
            shared by all K orders.
        delta (Tensor | LowRankDelta): (B, K, Dm, L) per-order step sizes
            (before ``delta_bias`` and softplus), canonical layout, or their
            low-rank factors: then delta is expanded here, scanned, and
            expanded again in the backward instead of being kept for it
            (:class:`~.multi_scan.LowRankDelta`).
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
    npair = len(names) // 2
    t, h, w = (int(x) for x in grid)
    wh, ww = (int(x) for x in window)
    # The kernels visit every order through its pair's row of a table
    # (scan_triton_seq._visit); the caller's tables win.
    if perms is None:
        perms = _perm_table(names[:npair], t, h, w, (wh, ww), unified_layout,
                            u.device)
    perms = perms.to(device=u.device, dtype=torch.int32).contiguous()
    from .scan_triton_seq import MultiOrderScanSeq, MultiOrderScanSeqLowRank
    if isinstance(delta, LowRankDelta):
        return MultiOrderScanSeqLowRank.apply(u, delta.low, delta.weight, A,
                                              B, C, D, delta_bias,
                                              delta_softplus, perms)
    return MultiOrderScanSeq.apply(u, delta, A, B, C, D, delta_bias,
                                   delta_softplus, perms)


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
