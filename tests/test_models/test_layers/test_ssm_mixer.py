import torch
import torch.nn.functional as F

from mmpose_stmamba.models.layers import MultiOrderSSM
from mmpose_stmamba.ops import STS6D_ORDERS, get_orders, selective_scan_ref


def test_stacked_parameters_and_init():
    mixer = MultiOrderSSM(32, STS6D_ORDERS, d_state=8, dt_rank='auto')
    K, R = 6, 2
    assert mixer.x_proj_weight.shape == (K, R + 16, 32)
    assert mixer.dt_proj_weight.shape == (K, 32, R)
    assert mixer.A_log.shape == (K * 32, 8)
    assert mixer.D.shape == (K * 32, )
    dt = F.softplus(mixer.dt_bias)
    assert dt.min() >= 1e-3 - 1e-6 and dt.max() <= 0.1 + 1e-6
    assert torch.allclose(-torch.exp(mixer.A_log[0]),
                          -torch.arange(1., 9.))


def test_matches_per_order_reference():
    """Each order = permute, scan with that order's own parameters,
    un-permute; pairs summed (checked against the ops' reference scan)."""
    torch.manual_seed(0)
    T, H, W, Dm, N = 2, 3, 2, 4, 4
    mixer = MultiOrderSSM(Dm, ('spatial', 'temporal', 'spatial_rev',
                               'temporal_rev'), d_state=N, dt_rank=2)
    u = torch.randn(1, T, H, W, Dm)
    out = mixer(u)
    assert out.shape == (1, 2, Dm, T, H, W)

    tokens = u.reshape(1, -1, Dm)
    perms, invs = get_orders(mixer.scan.orders, T, H, W)
    results = []
    for k in range(4):
        x = tokens[:, perms[k]]  # (1, L, Dm) in scan order
        dt_low, B, C = (x @ mixer.x_proj_weight[k].T).split([2, N, N], -1)
        delta = dt_low @ mixer.dt_proj_weight[k].T
        sl = slice(k * Dm, (k + 1) * Dm)
        y = selective_scan_ref(
            x.transpose(1, 2), delta.transpose(1, 2),
            -torch.exp(mixer.A_log[sl]), B.transpose(1, 2),
            C.transpose(1, 2), mixer.D[sl], delta_bias=mixer.dt_bias[sl],
            delta_softplus=True)
        results.append(y[:, :, invs[k]])
    expected = torch.stack([results[0] + results[2],
                            results[1] + results[3]], dim=1)
    assert torch.allclose(out.flatten(3), expected, atol=1e-5)


def test_all_parameters_get_gradients():
    mixer = MultiOrderSSM(8, ('window', 'window_rev'), d_state=4,
                          window=(2, 2))
    mixer(torch.randn(1, 3, 4, 4, 8)).square().sum().backward()
    for name, p in mixer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_block_diagonal_product_is_the_einsum():
    """The CUDA path's one-matmul Delta projection, gradients included."""
    from mmpose_stmamba.ops.multi_scan import block_diagonal_product
    torch.manual_seed(0)
    dt_low = torch.randn(2, 7, 6, 3, requires_grad=True)
    weight = torch.randn(6, 5, 3, requires_grad=True)
    ref = torch.einsum('blkr,kdr->blkd', dt_low, weight)
    ours = block_diagonal_product(dt_low, weight)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-6)
    grad = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, (dt_low, weight), grad)
    g_ours = torch.autograd.grad(ours, (dt_low, weight), grad)
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, atol=1e-5)
    # a strided dt_low (the split of the x projection's output)
    wide = torch.randn(2, 7, 6, 9)
    assert torch.allclose(block_diagonal_product(wide[..., :3], weight),
                          torch.einsum('blkr,kdr->blkd', wide[..., :3],
                                       weight), atol=1e-6)


def test_delta_recompute_gives_the_same_values_and_gradients():
    """Delta handed to the scan as its low-rank factors (the default) or
    expanded in the mixer: same outputs and parameter gradients."""
    torch.manual_seed(0)
    mixers = [MultiOrderSSM(8, STS6D_ORDERS, d_state=4, dt_rank=2,
                            delta_recompute=flag) for flag in (True, False)]
    mixers[1].load_state_dict(mixers[0].state_dict())
    u = torch.randn(2, 2, 3, 4, 8)
    outs = [m(u) for m in mixers]
    assert torch.equal(outs[0], outs[1])
    for out in outs:
        out.square().sum().backward()
    for (name, a), b in zip(mixers[0].named_parameters(),
                            mixers[1].parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name
