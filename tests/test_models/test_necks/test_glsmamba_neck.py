import pytest
import torch
from mmpose.registry import MODELS


def _neck(**kwargs):
    return MODELS.build(
        dict(type='GLSMambaNeck', in_channels=6, embed_dims=8, num_frames=5,
             num_gsm=1, num_lrm=1, lrm_cfg=dict(window=(4, 3)), **kwargs))


def test_structure_and_shapes():
    neck = MODELS.build(dict(type='GLSMambaNeck', in_channels=6,
                             embed_dims=8, lrm_cfg=dict(window=(4, 3)),
                             drop_path_rate=0.1))
    kinds = [type(b).__name__ for b in neck.blocks]
    assert kinds == ['GSMBlock'] * 4 + ['LRMBlock'] * 2
    out, = neck((torch.randn(2, 5, 6, 8, 6), ))
    assert out.shape == (2, 5, 8, 8, 6)


@pytest.mark.parametrize('T', [1, 3, 5, 7])
def test_inference_clip_lengths(T):
    neck = _neck().eval()
    with torch.no_grad():
        out, = neck((torch.randn(1, T, 6, 8, 6), ))
    assert out.shape == (1, T, 8, 8, 6)
    assert torch.isfinite(out).all()


def test_block_input_is_projection_plus_embeddings():
    neck = _neck()
    seen = []
    neck.blocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    # the same frame repeated: frames differ only by the temporal embedding
    x = torch.randn(1, 1, 6, 8, 6).expand(1, 3, 6, 8, 6)
    neck((x, ))
    tokens = seen[0]  # (B, T, H, W, D)
    emb = neck.temporal_embed.weight  # slots 1, 2, 3 for T = 3
    assert torch.allclose(tokens[0, 2] - tokens[0, 0],
                          (emb[3] - emb[1]).expand(8, 6, 8), atol=1e-6)
    # and positions differ by the fixed sine-cosine embedding
    assert not torch.allclose(tokens[0, 0, 0, 0], tokens[0, 0, 1, 0])


def test_spatial_embedding_is_built_once_per_size():
    from mmpose_stmamba.models.layers import sincos_embedding_2d
    neck = _neck()
    x = torch.zeros(1, 8)
    first = neck._spatial_embedding(8, 6, x)
    assert neck._spatial_embedding(8, 6, x) is first
    assert torch.equal(first, sincos_embedding_2d(8, 6, 8))
    other = neck._spatial_embedding(4, 3, x.double())
    assert other.shape == (4, 3, 8) and other.dtype == torch.float64
    # the cache is not state: checkpoints stay as they were
    assert not any('cache' in key for key in neck.state_dict())
