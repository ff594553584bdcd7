import pytest
import torch
import torch.nn as nn
from mmpose.registry import MODELS

from mmpose_stmamba.models.layers import KeepStream, SequentialChannelAttention

X = (1, 3, 8, 6, 8)  # (B, T, H, W, D)


def test_gsm_block_default_is_sts6d_with_stmm():
    block = MODELS.build(dict(type='GSMBlock', channels=8, num_frames=3))
    assert block.mixer.scan.orders == ('unified', 'spatial', 'temporal',
                                       'unified_rev', 'spatial_rev',
                                       'temporal_rev')
    assert isinstance(block.channel_attention, SequentialChannelAttention)
    x = torch.randn(*X, requires_grad=True)
    out = block(x)
    assert out.shape == X
    out.sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None, name


@pytest.mark.parametrize('options', [
    dict(scans=('unified', )),
    dict(scans=('temporal', 'unified')),
    dict(scans=('spatial', 'temporal')),
    dict(merge='sum'),
    dict(channel_attention=False),
    dict(expansion=2., d_state=4, dt_rank=3, ffn_ratio=1., se_reduction=4.),
    dict(stmm_cfg=dict(impl='torchvision', groups=2)),
    dict(stmm_cfg=dict(with_cp=True)),
    dict(stmm_cfg=dict(with_cp='all'), delta_recompute=False),
    dict(unified_layout='wide_cols', gate_kernel=5, drop_path=0.2),
])
def test_gsm_ablation_options_build_and_run(options):
    block = MODELS.build(dict(type='GSMBlock', channels=8, num_frames=3,
                              **options))
    out = block(torch.randn(*X))
    assert out.shape == X
    assert torch.isfinite(out).all()


def test_switched_off_options_are_identities():
    block = MODELS.build(dict(type='GSMBlock', channels=8, merge='sum',
                              channel_attention=False))
    assert isinstance(block.channel_attention, nn.Identity)
    assert all(isinstance(m, KeepStream) for m in block.merge.modulators)
    # the scans are given in canonical STS6D order whatever the config says
    block = MODELS.build(dict(type='GSMBlock', channels=8,
                              scans=('temporal', 'unified')))
    assert block.mixer.scan.orders == ('unified', 'temporal', 'unified_rev',
                                       'temporal_rev')


@pytest.mark.parametrize('scans', [(), ('window', ), ('spatial', 'spatial')])
def test_gsm_bad_scans(scans):
    with pytest.raises(ValueError, match='scans'):
        MODELS.build(dict(type='GSMBlock', channels=8, scans=scans))


def test_lrm_block_windows():
    block = MODELS.build(dict(type='LRMBlock', channels=8, window=(4, 3)))
    assert block.mixer.scan.orders == ('window', 'window_rev')
    assert block.mixer.scan.window == (4, 3)
    assert isinstance(block.channel_attention, nn.Identity)
    out = block(torch.randn(*X))
    assert out.shape == X
    with pytest.raises(ValueError, match='window'):
        MODELS.build(dict(type='LRMBlock', channels=8, window=(0, 3)))


def test_blocks_are_residual_at_zero_branches():
    block = MODELS.build(dict(type='LRMBlock', channels=8, window=(4, 3)))
    nn.init.zeros_(block.out_proj.weight)
    nn.init.zeros_(block.ffn.fc2.weight)
    nn.init.zeros_(block.ffn.fc2.bias)
    x = torch.randn(*X)
    assert torch.equal(block(x), x)


def _saved_bytes(block, x):
    # Bytes autograd keeps for the backward of one bf16-autocast forward,
    # each storage once (as tools/gpu/profile_memory.py counts them).
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = block(x)
    return sum(seen.values()), out


@pytest.mark.parametrize('block_type', ['GSMBlock', 'LRMBlock'])
def test_gate_recompute_keeps_results_and_saves_memory(block_type):
    cfg = dict(type=block_type, channels=8)
    cfg.update(num_frames=3) if block_type == 'GSMBlock' else cfg.update(
        window=(4, 3))
    torch.manual_seed(0)
    plain = MODELS.build(cfg)
    recompute = MODELS.build(dict(cfg, gate_cp=True))
    recompute.load_state_dict(plain.state_dict())
    x = torch.randn(*X)
    results = []
    for block in (plain, recompute):
        xi = x.clone().requires_grad_(True)
        saved, out = _saved_bytes(block, xi)
        out.float().square().sum().backward()
        results.append((saved, out.detach(), xi.grad,
                        [p.grad for p in block.parameters()]))
    (s0, o0, gx0, gp0), (s1, o1, gx1, gp1) = results
    assert torch.equal(o0, o1)
    assert torch.allclose(gx0, gx1, rtol=1e-5, atol=1e-6)
    for a, b in zip(gp0, gp1):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    # LayerNorm's input and output and the gate are not kept: three
    # (B, T, H, W, Dm) tensors fewer (bf16 under CPU autocast, which runs
    # LayerNorm in bf16; fp32 on CUDA).
    assert s0 - s1 >= 3 * 2 * torch.Size(X).numel()
    recompute.eval()
    with torch.no_grad():  # no recompute outside autograd
        assert torch.equal(recompute(x), plain.eval()(x))
