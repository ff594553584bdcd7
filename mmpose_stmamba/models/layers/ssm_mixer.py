"""Multi-order selective-scan mixer: the S6 part of GSM and LRM blocks.

References:
    * Mamba (Gu & Dao, 2023) and state-spaces/mamba ``mamba_simple.py``:
      input-dependent Delta, B, C from a low-rank projection, A = -exp(A_log)
      kept in fp32, the D skip; the initialisation of the Delta bias
      (softplus^-1 of a log-uniform step in [dt_min, dt_max]) and of A_log
      (S4D-real: A_n = -(n + 1)).
    * VMamba (Liu et al., 2024), ``SS2D.forward_corev2``: the K scan
      directions keep their own Delta/B/C projections, A_log and D, stacked
      along a K dimension, and run as one grouped scan call.
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.2-3.3: six STS6D orders
      (unified, spatial, temporal, each forward and reversed) in GSM, two
      WSTS window orders in LRM; each forward/reversed pair is merged.

Inferred (the paper is silent):
    * Parameters are *not* shared between an order and its reverse (each of
      the K directions has its own), as in VMamba.
    * d_state, dt_rank and the expansion are config options (see
      docs/model.md for the defaults and why).
    * Orders given as a subset of types ``scans`` are laid out as the
      forward orders then the reversed ones, like STS6D.
"""
import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from mmpose_stmamba.ops import (LowRankDelta, multi_order_scan,
                                selective_scan_flops)


class MultiOrderScan(nn.Module):
    """The multi-order scan op as a module (no parameters).

    Wrapping the op lets the budget tool count its FLOPs analytically
    (:meth:`flops`) instead of tracing the scan's internals.

    Args:
        orders (tuple[str]): Order names, forward ones then their ``_rev``.
        window (tuple[int]): WSTS window (h, w). Defaults to (8, 6).
        unified_layout (str): Panorama layout of the unified order
            (inferred; see ``ops.scan_orders.UNIFIED_LAYOUTS``).
            Defaults to 'wide_rows'.
        backend (str): Scan backend of ``mmpose_stmamba.ops``.
            Defaults to 'auto'.
    """

    def __init__(self,
                 orders: Tuple[str, ...],
                 window: Tuple[int, int] = (8, 6),
                 unified_layout: str = 'wide_rows',
                 backend: str = 'auto'):
        super().__init__()
        self.orders = tuple(orders)
        self.window = tuple(window)
        self.unified_layout = unified_layout
        self.backend = backend

    @property
    def num_pairs(self) -> int:
        return len(self.orders) // 2

    def forward(self, u, delta, A, B, C, D, delta_bias, grid):
        """Run all K orders; see ``ops.multi_order_scan`` for shapes.

        Returns:
            Tensor: (B, P, Dm, L) canonical layout, each pair summed.
        """
        return multi_order_scan(
            u,
            delta,
            A,
            B,
            C,
            D=D,
            delta_bias=delta_bias,
            delta_softplus=True,
            orders=self.orders,
            grid=grid,
            window=self.window,
            unified_layout=self.unified_layout,
            backend=self.backend)

    def flops(self, u, delta, A, B, C, D, delta_bias, grid) -> int:
        """Analytic multiply-accumulates of :meth:`forward` (the pair sums
        and permutations are data movement and are not counted)."""
        batch, channels, length = u.shape
        return len(self.orders) * selective_scan_flops(
            batch, channels, length, A.shape[-1], with_D=D is not None)

    def output_like(self, u, delta, A, B, C, D, delta_bias, grid):
        """A zero tensor shaped like :meth:`forward`'s result."""
        return u.new_zeros(u.shape[0], self.num_pairs, *u.shape[1:])


class MultiOrderSSM(nn.Module):
    """Selective state-space mixing of a clip along K scan orders.

    Args:
        channels (int): Dm, the inner (scan) width.
        orders (tuple[str]): K order names, forward ones then reversed.
        d_state (int): N. Defaults to 16.
        dt_rank (int | str): Rank of the Delta projection; 'auto' gives
            ceil(Dm / 16). Defaults to 'auto'.
        window (tuple[int]): WSTS window (h, w). Defaults to (8, 6).
        unified_layout (str): Panorama layout. Defaults to 'wide_rows'.
        backend (str): Scan backend. Defaults to 'auto'.
        dt_min (float): Smallest initial step. Defaults to 1e-3.
        dt_max (float): Largest initial step. Defaults to 0.1.
        delta_recompute (bool): Hand the scan Delta's low-rank factors
            (:class:`~mmpose_stmamba.ops.LowRankDelta`) instead of the
            (B, K, Dm, L) tensor: the fused scan then keeps R / Dm of it
            for the backward and expands it again there (same values; at
            GLSMamba-B's GSM block, batch 32, 1.1 GB less kept for one
            more small matmul, docs/benchmark.md run 30).  The generic
            route expands it once either way. Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 orders: Sequence[str],
                 d_state: int = 16,
                 dt_rank='auto',
                 window: Tuple[int, int] = (8, 6),
                 unified_layout: str = 'wide_rows',
                 backend: str = 'auto',
                 dt_min: float = 1e-3,
                 dt_max: float = 0.1,
                 delta_recompute: bool = True):
        super().__init__()
        self.delta_recompute = delta_recompute
        K = len(orders)
        if K == 0 or K % 2:
            raise ValueError(f'orders must be forward/reversed pairs, '
                             f'got {orders}')
        R = math.ceil(channels / 16) if dt_rank == 'auto' else int(dt_rank)
        self.d_state, self.dt_rank = d_state, R
        self.scan = MultiOrderScan(orders, window, unified_layout, backend)

        # Per-direction parameters, stacked along K.
        bound = channels**-0.5
        self.x_proj_weight = nn.Parameter(  # tokens -> (dt_low, B, C)
            torch.empty(K, R + 2 * d_state, channels).uniform_(-bound, bound))
        # Delta projection: uniform in +-R^-0.5 keeps the pre-softplus
        # step near its bias at the start (mamba's dt_init='random').
        self.dt_proj_weight = nn.Parameter(
            torch.empty(K, channels, R).uniform_(-R**-0.5, R**-0.5))
        # Bias = softplus^-1(dt) with dt log-uniform in [dt_min, dt_max]:
        # each channel starts with its own time scale.
        dt = torch.exp(
            torch.rand(K * channels) *
            (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real: A_n = -(n + 1); A_log stays fp32 (the op exponentiates
        # it and low precision there ruins long-range decay).
        A = torch.arange(1, d_state + 1, dtype=torch.float32)
        self.A_log = nn.Parameter(
            torch.log(A).repeat(K * channels, 1))  # (K * Dm, N)
        self.D = nn.Parameter(torch.ones(K * channels))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Scan the clip along every order.

        Args:
            u (Tensor): (B, T, H, W, Dm) channels-last tokens.

        Returns:
            Tensor: (B, P, Dm, T, H, W), one result per forward/reversed
            pair (P = K / 2), in canonical order; in memory channels-last
            from the fused kernel, contiguous from the generic route.
        """
        B, T, H, W, Dm = u.shape
        L, N, R = T * H * W, self.d_state, self.dt_rank
        tokens = u.reshape(B, L, Dm)
        # Channels-last throughout (views, no copies): the fused kernel
        # reads one coalesced row per token; the generic route makes its
        # own contiguous copies.
        x_dbl = torch.einsum('bld,kcd->blkc', tokens, self.x_proj_weight)
        dt_low, Bs, Cs = x_dbl.split([R, N, N], dim=3)
        # Delta (B, K, Dm, L) = dt_low x dt_proj per order
        # (ops.expand_low_rank), here or inside the scan.
        delta = LowRankDelta(dt_low, self.dt_proj_weight)
        if not self.delta_recompute:
            delta = delta.expand()
        y = self.scan(
            tokens.transpose(1, 2),  # (B, Dm, L)
            delta,
            -torch.exp(self.A_log.float()),  # (K * Dm, N)
            Bs.permute(0, 2, 3, 1),  # (B, K, N, L)
            Cs.permute(0, 2, 3, 1),
            self.D.float(),
            self.dt_bias.float(),
            (T, H, W))
        # The fused kernel writes channels-last, (B, L, P, Dm) in memory,
        # the generic route canonical; the merge decides whether it wants a
        # copy (STMMerge.forward).
        return y.view(B, -1, Dm, T, H, W)
