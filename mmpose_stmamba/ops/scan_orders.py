"""Space-time scan orders as data: permutations of a clip's tokens.

References:
    * GLSMamba (Feng et al., ICCV 2025) names the orders: STS6D (unified,
      spatial, temporal, each forward and reversed) for the global blocks
      and WSTS (8 x 6 tube windows over all T frames) for the local ones;
      see ``METHOD.md`` sections 2.1 and 3.  The paper gives no index
      formulas; the ones below are ours.
    * OpenGVLab/VideoMamba builds its space-time order with ``einops``
      rearranges; the regular orders here are written the same way so
      that each reads as its axis order.

Definitions (``docs/design.md``).  A clip's tokens are in canonical order
``l = t*H*W + h*W + w``.  An order is a LongTensor ``perm`` of length
``L = T*H*W``: sequence position ``i`` visits canonical token ``perm[i]``;
``inv = argsort(perm)`` maps back.  Axis strings list the sort keys from
slowest to fastest:

* ``'spatial'``: ``(t, h, w)``, frame after frame, raster inside a frame;
  equal to the canonical order.
* ``'temporal'``: ``(h, w, t)``, for each pixel (raster) its T frames in
  a row.
* ``'unified'``: a raster of the panorama of the T frames.  INFERRED (the
  sources do not fix the layout), chosen by ``unified_layout``:

  - ``'wide_rows'`` (default): frames side by side along the width,
    panorama H x (T*W), read row by row: ``(h, t, w)``;
  - ``'wide_cols'``: the same panorama read column by column:
    ``(t, w, h)``;
  - ``'tall_cols'``: frames stacked along the height, (T*H) x W, read
    column by column: ``(w, t, h)``.

  (Stacked along the height and read by rows would be ``(t, h, w)``, the
  spatial order again, so it is not offered.)
* ``'window'``: non-overlapping (wh, ww) tubes over all T frames,
  ``window = (wh, ww)``; windows in raster order, inside a window frame
  by frame, raster inside the frame: ``(hb, wb, t, h', w')`` with
  ``hb, h' = divmod(h, wh)`` and ``wb, w' = divmod(w, ww)``.  When wh or
  ww does not divide H or W, the last row/column of windows is smaller
  (no padding, no token visited twice).
* ``name + '_rev'``: the flip, ``perm.flip(0)``.

Presets: :data:`STS6D_ORDERS` (K = 6, pairs (0, 3), (1, 4), (2, 5)) and
:data:`WSTS_ORDERS` (K = 2).  Order *i* is paired with order *i + K/2*.
"""
import functools

import torch
from einops import rearrange

STS6D_ORDERS = ('unified', 'spatial', 'temporal', 'unified_rev',
                'spatial_rev', 'temporal_rev')
WSTS_ORDERS = ('window', 'window_rev')
ORDER_PRESETS = {'sts6d': STS6D_ORDERS, 'wsts': WSTS_ORDERS}

# Panorama layout -> einops target of the canonical 't h w' grid.
UNIFIED_LAYOUTS = {
    'wide_rows': 'h t w',
    'wide_cols': 't w h',
    'tall_cols': 'w t h',
}
ORDER_TYPES = ('unified', 'spatial', 'temporal', 'window')


def _grid_order(axes, T, H, W):
    """The canonical indices of a (T, H, W) grid read in ``axes`` order."""
    index = torch.arange(T * H * W).reshape(T, H, W)
    return rearrange(index, f't h w -> ({axes})')


def _window_order(T, H, W, window):
    """(hb, wb, t, h', w') order, smaller windows at the bottom/right."""
    wh, ww = window
    t, h, w = torch.meshgrid(torch.arange(T), torch.arange(H),
                             torch.arange(W), indexing='ij')
    hb, hi = h // wh, h % wh
    wb, wi = w // ww, w % ww
    n_wb = -(-W // ww)
    # Mixed-radix key of (hb, wb, t, h', w'): every digit stays below its
    # radix, also in a smaller edge window, so sorting by the key sorts
    # lexicographically.
    key = (((hb * n_wb + wb) * T + t) * wh + hi) * ww + wi
    return torch.argsort(key.flatten())


def order_permutation(name,
                      T,
                      H,
                      W,
                      window=(8, 6),
                      unified_layout='wide_rows'):
    """The permutation of one named order (module docstring), on the CPU.

    Args:
        name (str): an order type from :data:`ORDER_TYPES`, optionally with
            the suffix ``'_rev'``.
        T, H, W (int): the clip grid.
        window (tuple[int, int]): (wh, ww) for ``'window'``.
            Defaults to (8, 6).
        unified_layout (str): key of :data:`UNIFIED_LAYOUTS`.
            Defaults to ``'wide_rows'``.

    Returns:
        Tensor: perm, (L,) int64.
    """
    _check_grid(T, H, W, window, unified_layout)
    base, reverse = _split_name(name)
    if base == 'window':
        perm = _window_order(T, H, W, window)
    else:
        axes = {
            'unified': UNIFIED_LAYOUTS[unified_layout],
            'spatial': 't h w',
            'temporal': 'h w t',
        }[base]
        perm = _grid_order(axes, T, H, W)
    return perm.flip(0) if reverse else perm


def normalize_orders(orders):
    """A preset name or a sequence of order names -> tuple of names.

    Raises:
        ValueError: unknown preset or order name, or an odd number of
            orders (they are merged in forward/reverse pairs).
    """
    if isinstance(orders, str):
        if orders not in ORDER_PRESETS:
            raise ValueError(f'orders={orders!r} is not a preset; choose '
                             f'one of {sorted(ORDER_PRESETS)} or give a '
                             f'sequence of order names')
        return ORDER_PRESETS[orders]
    names = tuple(orders)
    for name in names:
        _split_name(name)
    if not names or len(names) % 2:
        raise ValueError(f'orders={names!r}: need a non-zero, even number '
                         f'of orders (order i is merged with i + K/2)')
    return names


def get_orders(orders,
               T,
               H,
               W,
               window=(8, 6),
               unified_layout='wide_rows',
               device=None):
    """Permutations and inverses of K orders, cached per shape and device.

    Args:
        orders (str | Sequence[str]): a preset (``'sts6d'``, ``'wsts'``) or
            order names (module docstring).
        T, H, W (int): the clip grid.
        window (tuple[int, int]): WSTS window (wh, ww). Defaults to (8, 6).
        unified_layout (str): panorama layout. Defaults to 'wide_rows'.
        device (str | torch.device, optional): where the indices live.
            Defaults to None (CPU).

    Returns:
        tuple[Tensor, Tensor]: perm and inv, both (K, L) int64 with
        ``perm[k, inv[k, l]] == l``.  Shared cached tensors: do not
        modify them in place.
    """
    names = normalize_orders(orders)
    window = tuple(int(v) for v in window) if window is not None else None
    device = torch.device(device if device is not None else 'cpu')
    return _cached_orders(names, int(T), int(H), int(W), window,
                          unified_layout, device)


@functools.lru_cache(maxsize=64)
def _cached_orders(names, T, H, W, window, unified_layout, device):
    perm = torch.stack([
        order_permutation(name, T, H, W, window, unified_layout)
        for name in names
    ])
    inv = torch.empty_like(perm)
    inv.scatter_(1, perm, torch.arange(T * H * W).expand_as(perm))
    return perm.to(device), inv.to(device)


def _split_name(name):
    base = name[:-4] if name.endswith('_rev') else name
    if base not in ORDER_TYPES:
        raise ValueError(f'order name {name!r} is unknown; choose one of '
                         f'{list(ORDER_TYPES)}, each optionally with the '
                         f'suffix \'_rev\'')
    return base, base != name


def _check_grid(T, H, W, window, unified_layout):
    for arg, value in (('T', T), ('H', H), ('W', W)):
        if int(value) != value or value < 1:
            raise ValueError(f'{arg}={value!r} must be a positive integer')
    if window is None or len(window) != 2 or any(
            int(v) != v or v < 1 for v in window):
        raise ValueError(f'window={window!r} must be two positive integers '
                         f'(wh, ww)')
    if unified_layout not in UNIFIED_LAYOUTS:
        raise ValueError(f'unified_layout={unified_layout!r} is unknown; '
                         f'choose one of {list(UNIFIED_LAYOUTS)}')


class _PermuteTokens(torch.autograd.Function):
    """out[:, k, :, i] = x[:, k, :, index[k, i]] for permutations index.

    The adjoint of gathering by a permutation is gathering by its inverse,
    so the backward is another gather instead of a scatter-add.
    """

    @staticmethod
    def forward(ctx, x, index, inverse):
        ctx.save_for_backward(index, inverse)
        return _gather_last(x, index)

    @staticmethod
    def backward(ctx, grad):
        index, inverse = ctx.saved_tensors
        return _PermuteTokens.apply(grad, inverse, index), None, None


def _gather_last(x, index):
    b, k, c, length = x.shape
    return torch.gather(x, 3, index.view(1, k, 1, length).expand(b, k, c,
                                                                 length))


def gather_orders(x, perm, inv=None):
    """Read tokens in K orders, for one grouped scan call.

    Args:
        x (Tensor): canonical tokens, (B, C, L) shared by all orders, or
            (B, K, C, L) with one tensor per order.
        perm (Tensor): (K, L) from :func:`get_orders`.
        inv (Tensor, optional): its inverse, (K, L); makes the backward a
            gather as well. Defaults to None (computed).

    Returns:
        Tensor: (B, K*C, L) for a (B, C, L) input, order k in channels
        [k*C, (k+1)*C); (B, K, C, L) for a (B, K, C, L) input.
        ``out[..., k, c, i] = x[..., (k,) c, perm[k, i]]``.
    """
    if inv is None:
        inv = torch.argsort(perm, dim=1)
    k = perm.shape[0]
    if x.dim() == 3:
        b, c, length = x.shape
        out = _PermuteTokens.apply(x.unsqueeze(1).expand(b, k, c, length),
                                   perm, inv)
        return out.reshape(b, k * c, length)
    if x.dim() != 4 or x.shape[1] != k:
        raise ValueError(f'x must be (B, C, L) or (B, {k}, C, L), got '
                         f'{tuple(x.shape)}')
    return _PermuteTokens.apply(x, perm, inv)


def merge_pairs(y, inv, K=None, perm=None):
    """Put K scanned sequences back in canonical order and sum the pairs.

    Args:
        y (Tensor): scan outputs, (B, K*C, L) or (B, K, C, L), order k in
            sequence order of ``perm[k]``.
        inv (Tensor): (K, L) from :func:`get_orders`.
        K (int, optional): number of orders. Defaults to ``inv.shape[0]``.
        perm (Tensor, optional): the forward permutations, (K, L), for a
            gather-only backward. Defaults to None (computed).

    Returns:
        Tensor: (B, K//2, C, L) canonical, ``out[:, p] = y_p + y_(p+K/2)``
        with ``y_k[..., l] = y[:, k, ..., inv[k, l]]``.
    """
    K = inv.shape[0] if K is None else K
    if K != inv.shape[0] or K % 2:
        raise ValueError(f'K={K} must be even and match inv '
                         f'{tuple(inv.shape)}')
    if perm is None:
        perm = torch.argsort(inv, dim=1)
    if y.dim() == 3:
        b, kc, length = y.shape
        y = y.reshape(b, K, kc // K, length)
    y = _PermuteTokens.apply(y, inv, perm)
    return y[:, :K // 2] + y[:, K // 2:]
