"""Selective scan and space-time scan orders (see ``docs/ops.md``).

Nothing optional is imported here: mamba-ssm and Triton load on first use
of their backends.
"""
from .multi_scan import LowRankDelta, expand_low_rank, multi_order_scan
from .scan_orders import (ORDER_PRESETS, ORDER_TYPES, STS6D_ORDERS,
                          UNIFIED_LAYOUTS, WSTS_ORDERS, gather_orders,
                          get_orders, merge_pairs, normalize_orders,
                          order_permutation)
from .scan_torch import selective_scan_ref, selective_scan_torch
from .selective_scan import (ENV_BACKEND, available_backends, resolve_backend,
                             selective_scan, selective_scan_flops)

__all__ = [
    'selective_scan', 'selective_scan_ref', 'selective_scan_torch',
    'selective_scan_flops', 'available_backends', 'resolve_backend',
    'ENV_BACKEND', 'multi_order_scan', 'LowRankDelta', 'expand_low_rank',
    'get_orders', 'order_permutation',
    'normalize_orders', 'gather_orders', 'merge_pairs', 'STS6D_ORDERS',
    'WSTS_ORDERS', 'ORDER_PRESETS', 'ORDER_TYPES', 'UNIFIED_LAYOUTS'
]
