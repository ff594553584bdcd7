"""Run clip blocks (GSM, LRM) on single-image features, as T = 1 clips.

References:
    * GLSMamba (Feng et al., ICCV 2025): the GSM and LRM blocks act on a
      clip of feature maps, channels-last (B, T, H, W, D) in this plugin
      (``mmpose_stmamba/models/layers/st_mamba_block.py``).
    * MMPose necks (``mmpose/models/necks``): ``forward`` maps a tuple of
      (B, C, H, W) maps to a tuple, and ``HeatmapHead`` reads the last map.

This adapter only moves axes: (B, C, H, W) -> (B, 1, H, W, C), the blocks,
and back.  It adds no projection and no position embedding, so the blocks
run at the backbone's width and the stock head is unchanged.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.registry import MODELS


@MODELS.register_module()
class SingleFrameClipNeck(BaseModule):
    """Apply clip blocks to the last feature map of an image model.

    Args:
        blocks (dict | Sequence[dict]): Config(s) of blocks that take and
            return channels-last clips (B, T, H, W, C), e.g.
            ``dict(type='GSMBlock', channels=32, num_frames=1)``; run in
            order.
        init_cfg (dict, optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self,
                 blocks: Union[dict, Sequence[dict]],
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(blocks, dict):
            blocks = [blocks]
        if not blocks:
            raise ValueError('blocks must name at least one block, got '
                             f'{blocks!r}')
        self.blocks = nn.Sequential(*(MODELS.build(cfg) for cfg in blocks))

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Run the blocks on the last map; the others pass through.

        Args:
            inputs (tuple[Tensor]): Backbone features, each (B, C, H, W).

        Returns:
            tuple[Tensor]: The same maps, the last one replaced by the
            blocks' output, (B, C, H, W).
        """
        x = inputs[-1]
        if x.dim() != 4:
            raise ValueError('SingleFrameClipNeck expects (B, C, H, W) '
                             f'features, got {tuple(x.shape)}')
        clip = x.permute(0, 2, 3, 1).unsqueeze(1)  # (B, 1, H, W, C)
        y = self.blocks(clip).squeeze(1).permute(0, 3, 1, 2)  # (B, C, H, W)
        return (*inputs[:-1], y.contiguous())
