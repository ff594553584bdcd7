"""GLSMamba temporal neck: projection, embeddings, 4 GSM + 2 LRM blocks.

References:
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.1: per-frame features
      (1/4 resolution) are linearly projected to D, get a fixed sine-cosine
      spatial and a learnable temporal embedding, and pass the GSM blocks
      (global) and then the LRM blocks (local), in sequence.

Inferred (see docs/model.md):
    * D (``embed_dims``) and the per-block hyper-parameters: chosen to meet
      the paper's budget (9.8M trainable parameters, 138.9 GFLOPs).
    * A final LayerNorm on the output (the blocks are pre-norm, so the
      residual stream is not normalised otherwise), and stochastic depth
      rising linearly over the six blocks, as in ViT/VMamba backbones.
    * Clip lengths other than the training one: the temporal embedding and
      the channel attention index frames by key-frame offset, clamped to
      the trained span (layers/embeddings.py); the scans and the
      deformable merge work for any T >= 1.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.registry import MODELS

from ..layers import TemporalEmbedding, sincos_embedding_2d


@MODELS.register_module()
class GLSMambaNeck(BaseModule):
    """Global-local spatiotemporal Mamba over a clip of feature maps.

    Args:
        in_channels (int): C of the per-frame features. Defaults to 256.
        embed_dims (int): D, the width of the blocks. Defaults to 192.
        num_frames (int): Training clip length T (temporal embedding and
            channel-attention slots). Defaults to 5.
        num_gsm (int): GSM blocks. Defaults to 4.
        num_lrm (int): LRM blocks. Defaults to 2.
        gsm_cfg (dict, optional): Extra :class:`GSMBlock` arguments.
        lrm_cfg (dict, optional): Extra :class:`LRMBlock` arguments.
        drop_path_rate (float): Stochastic depth of the last block, rising
            linearly from 0. Defaults to 0.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 embed_dims: int = 192,
                 num_frames: int = 5,
                 num_gsm: int = 4,
                 num_lrm: int = 2,
                 gsm_cfg: Optional[dict] = None,
                 lrm_cfg: Optional[dict] = None,
                 drop_path_rate: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.input_proj = nn.Linear(in_channels, embed_dims)
        self.temporal_embed = TemporalEmbedding(embed_dims, num_frames)
        rates = torch.linspace(0, drop_path_rate,
                               num_gsm + num_lrm).tolist()
        blocks = [
            dict(
                type='GSMBlock',
                channels=embed_dims,
                num_frames=num_frames,
                drop_path=rates[i],
                **(gsm_cfg or {})) for i in range(num_gsm)
        ] + [
            dict(
                type='LRMBlock',
                channels=embed_dims,
                drop_path=rates[num_gsm + i],
                **(lrm_cfg or {})) for i in range(num_lrm)
        ]
        self.blocks = nn.ModuleList(MODELS.build(cfg) for cfg in blocks)
        self.out_norm = nn.LayerNorm(embed_dims)
        # (H, W, device, dtype) -> the spatial embedding; not state
        self._embedding_cache = {}

    def _spatial_embedding(self, H: int, W: int,
                           like: torch.Tensor) -> torch.Tensor:
        """The fixed (H, W, D) embedding on ``like``'s device and dtype.

        Built on the CPU and copied once per size, device and dtype: a
        copy from pageable host memory on every call makes the host wait
        for the device, and CUDA's sync debug mode found one such wait per
        neck call (``tools/gpu/profile_overhead.py``, docs/benchmark.md
        runs 28-31), which keeps the host from queueing ahead of the device
        and rules out CUDA-graph capture.
        """
        key = (H, W, like.device, like.dtype)
        if key not in self._embedding_cache:
            self._embedding_cache[key] = sincos_embedding_2d(
                H, W, self.embed_dims).to(like)
        return self._embedding_cache[key]

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Run the neck.

        Args:
            inputs (tuple[Tensor]): Per-frame features; the last one is
                used, (B, T, C, H, W).

        Returns:
            tuple[Tensor]: One tensor (B, T, D, H, W).
        """
        x = inputs[-1]
        B, T, _, H, W = x.shape
        x = self.input_proj(x.permute(0, 1, 3, 4, 2))  # (B, T, H, W, D)
        spatial = self._spatial_embedding(H, W, x)
        temporal = self.temporal_embed(T).to(x)
        x = x + spatial[None, None] + temporal[None, :, None, None]
        for block in self.blocks:
            x = block(x)
        x = self.out_norm(x)
        return (x.permute(0, 1, 4, 2, 3).contiguous(), )
