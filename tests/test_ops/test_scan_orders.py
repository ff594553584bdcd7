"""Scan orders: explicit index lists on a tiny grid, then properties.

The expected lists for (T, H, W) = (2, 2, 3) were written by hand from
the definitions in docs/design.md (canonical l = 6 t + 3 h + w).
"""
import pytest
import torch

from mmpose_stmamba.ops import (STS6D_ORDERS, WSTS_ORDERS, gather_orders,
                                get_orders, merge_pairs, order_permutation)

T, H, W = 2, 2, 3
EXPECTED = {
    # (name, window, unified_layout) -> sequence of canonical tokens
    ('spatial', (8, 6), 'wide_rows'): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                       11],
    ('temporal', (8, 6), 'wide_rows'): [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5,
                                        11],
    # Panorama H x (T W) by rows: row h of frame 0, then of frame 1.
    ('unified', (8, 6), 'wide_rows'): [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10,
                                       11],
    ('unified', (8, 6), 'wide_cols'): [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8,
                                       11],
    ('unified', (8, 6), 'tall_cols'): [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8,
                                       11],
    # One 2x2 window and a 2x1 edge window on the right.
    ('window', (2, 2), 'wide_rows'): [0, 1, 3, 4, 6, 7, 9, 10, 2, 5, 8,
                                      11],
    # 1x2 windows: each row splits into a 1x2 and a 1x1 edge window.
    ('window', (1, 2), 'wide_rows'): [0, 1, 6, 7, 2, 8, 3, 4, 9, 10, 5,
                                      11],
    # The window is larger than the frame: one window, the spatial order.
    ('window', (8, 6), 'wide_rows'): list(range(12)),
}


@pytest.mark.parametrize('key', list(EXPECTED))
def test_expected_index_lists(key):
    name, window, layout = key
    perm = order_permutation(name, T, H, W, window, layout)
    assert perm.tolist() == EXPECTED[key]
    rev = order_permutation(name + '_rev', T, H, W, window, layout)
    assert rev.tolist() == EXPECTED[key][::-1]


GRIDS = [(1, 1, 1), (2, 2, 3), (3, 5, 7), (5, 16, 12), (2, 9, 13)]


@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.parametrize('orders', ['sts6d', 'wsts'])
def test_bijection_round_trip_and_flip(grid, orders):
    perm, inv = get_orders(orders, *grid, window=(4, 3))
    length = grid[0] * grid[1] * grid[2]
    identity = torch.arange(length)
    for k in range(perm.shape[0]):
        assert torch.equal(perm[k].sort().values, identity)
        assert torch.equal(perm[k][inv[k]], identity)
        assert torch.equal(inv[k][perm[k]], identity)
    K = perm.shape[0]
    assert torch.equal(perm[K // 2:], perm[:K // 2].flip(1))


def _coords(index, grid):
    t, rest = divmod(index, grid[1] * grid[2])
    return (t, ) + divmod(rest, grid[2])


@pytest.mark.parametrize('grid', GRIDS)
def test_temporal_puts_a_pixel_frames_next_to_each_other(grid):
    perm = order_permutation('temporal', *grid).tolist()
    n_t = grid[0]
    for start in range(0, len(perm), n_t):
        run = [_coords(i, grid) for i in perm[start:start + n_t]]
        assert [c[0] for c in run] == list(range(n_t))
        assert len({c[1:] for c in run}) == 1


@pytest.mark.parametrize('grid,window', [((3, 5, 7), (2, 3)),
                                         ((2, 16, 12), (8, 6)),
                                         ((2, 9, 13), (8, 6)),
                                         ((4, 3, 3), (1, 1))])
def test_window_order_stays_in_its_window(grid, window):
    perm = order_permutation('window', *grid, window=window).tolist()
    n_t, n_h, n_w = grid
    # Windows come one after another: each appears in one contiguous run
    # holding all of its tokens (smaller at the bottom/right edges).
    runs = []
    for i in perm:
        t, h, w = _coords(i, grid)
        win = (h // window[0], w // window[1])
        if not runs or runs[-1][0] != win:
            runs.append((win, []))
        runs[-1][1].append((t, h, w))
    wins = [r[0] for r in runs]
    assert wins == sorted(set(wins))  # raster order, no window revisited
    for (hb, wb), tokens in runs:
        rows = min(window[0], n_h - hb * window[0])
        cols = min(window[1], n_w - wb * window[1])
        assert len(tokens) == n_t * rows * cols
        assert tokens == sorted(tokens)  # frame by frame, raster inside


def test_cache_and_device():
    a = get_orders(STS6D_ORDERS, 2, 4, 3)
    b = get_orders('sts6d', 2, 4, 3)
    assert a[0] is b[0] and a[1] is b[1]
    c = get_orders(STS6D_ORDERS, 2, 4, 3, unified_layout='wide_cols')
    assert not torch.equal(a[0], c[0])
    assert a[0].device.type == 'cpu' and a[0].dtype == torch.int64


@pytest.mark.parametrize('call,match', [
    (lambda: get_orders('sts7d', 2, 2, 2), 'orders='),
    (lambda: get_orders(['spatial', 'diagonal'], 2, 2, 2), 'diagonal'),
    (lambda: get_orders(['spatial'], 2, 2, 2), 'even'),
    (lambda: get_orders(WSTS_ORDERS, 2, 2, 2, window=(0, 2)), 'window='),
    (lambda: get_orders('sts6d', 2, 2, 2, unified_layout='tall_rows'),
     'unified_layout='),
    (lambda: get_orders('sts6d', 0, 2, 2), 'T='),
])
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gather_orders_and_merge_pairs():
    grid = (2, 3, 4)
    perm, inv = get_orders('sts6d', *grid)
    K, L = perm.shape
    x = torch.randn(2, 5, L)
    seq = gather_orders(x, perm, inv)
    assert seq.shape == (2, K * 5, L)
    for k in range(K):
        assert torch.equal(seq[:, k * 5:(k + 1) * 5], x[..., perm[k]])
    # Each order restored to canonical order, pairs summed: 2 x.
    merged = merge_pairs(seq, inv, K)
    assert merged.shape == (2, K // 2, 5, L)
    assert torch.allclose(merged, 2 * x.unsqueeze(1).expand_as(merged))
    per_order = torch.randn(2, K, 3, L)
    out = gather_orders(per_order, perm)
    for k in range(K):
        assert torch.equal(out[:, k], per_order[:, k][..., perm[k]])


def test_gather_and_merge_gradients():
    perm, inv = get_orders('wsts', 2, 3, 5, window=(2, 3))
    K, L = perm.shape
    x = torch.randn(1, 2, L, dtype=torch.float64, requires_grad=True)
    xk = torch.randn(1, K, 2, L, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gather_orders(t, perm, inv),
                                    (x, ))
    assert torch.autograd.gradcheck(lambda t: gather_orders(t, perm, inv),
                                    (xk, ))
    assert torch.autograd.gradcheck(lambda t: merge_pairs(t, inv, K, perm),
                                    (xk, ))
