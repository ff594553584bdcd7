"""The deconvolution stage of ViTPose's heatmap head, as an encoder neck.

References:
    * ViTPose (Xu et al., NeurIPS 2022), "classic decoder": two 4x4
      stride-2 transposed convolutions (256 channels, BN, ReLU) that take
      the ViT's 1/16 features to 1/4 resolution.
    * MMPose 1.x ``HeatmapHead._make_deconv_layers`` and the ViTPose
      configs ``td-hm_ViTPose-{base,huge}_8xb64-210e_coco-256x192.py``: the
      layer layout (ConvTranspose2d without bias, BatchNorm2d, ReLU; padding
      1, output_padding 0 for kernel 4), reproduced here so that
      ``deconv_layers.*`` carries the same keys as ``head.deconv_layers.*``
      of MMPose's ViTPose checkpoints.  Load them with
      ``init_cfg=dict(type='Pretrained', checkpoint=URL, prefix='head.')``
      (the head's ``final_layer.*`` keys are then reported as unexpected
      and ignored).

GLSMamba (Feng et al., ICCV 2025) uses this stage, frozen, to produce its
256 x 64 x 48 per-frame features for 256 x 192 crops.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpose.registry import MODELS


@MODELS.register_module()
class ViTPoseDeconvNeck(BaseModule):
    """Deconvolution layers of ViTPose's heatmap head (no final conv).

    Args:
        in_channels (int): ViT width (768 for B, 1280 for H).
        out_channels (Sequence[int]): Channels of each deconv.
            Defaults to (256, 256).
        kernel_sizes (Sequence[int]): Kernel of each deconv (2, 3 or 4).
            Defaults to (4, 4).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Sequence[int] = (256, 256),
                 kernel_sizes: Sequence[int] = (4, 4),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if len(out_channels) != len(kernel_sizes):
            raise ValueError(f'out_channels {out_channels} and kernel_sizes '
                             f'{kernel_sizes} differ in length')
        # kernel -> (padding, output_padding) giving exactly 2x upsampling
        paddings = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
        layers = []
        for channels, kernel in zip(out_channels, kernel_sizes):
            if kernel not in paddings:
                raise ValueError(f'kernel_sizes entries must be 2, 3 or 4, '
                                 f'got {kernel}')
            padding, output_padding = paddings[kernel]
            layers += [
                nn.ConvTranspose2d(
                    in_channels,
                    channels,
                    kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True)
            ]
            in_channels = channels
        self.deconv_layers = nn.Sequential(*layers)

    def forward(self,
                inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Upsample the last feature map.

        Args:
            inputs (tuple[Tensor]): Backbone features, last (N, C, h, w).

        Returns:
            tuple[Tensor]: One tensor (N, out_channels[-1], 4h, 4w).
        """
        return (self.deconv_layers(inputs[-1]), )
