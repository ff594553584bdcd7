"""Key-frame heatmap head of the video pose estimator.

References:
    * GLSMamba (Feng et al., ICCV 2025): a detection head turns the neck's
      features into the key frame's K heatmaps; loss = MSE between
      predicted and Gaussian target heatmaps.
    * MMPose ``HeatmapHead`` (SimpleBaseline): the loss with target
      weights, ``acc_pose``, codec decoding and flip test (average with the
      mirrored heatmaps of the flipped input, ``flip_heatmaps``) are
      inherited unchanged.

Inferred (the paper does not describe the head): the estimator hands the
head the key frame's slice of the neck output, (B, D, 64, 48); the head is
an optional 3x3 conv layer and a 1x1 conv to K channels at that
resolution, i.e. no upsampling (the encoder already produced 1/4
resolution).  Default: the 1x1 conv only.
"""
from typing import Optional, Sequence

from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS


@MODELS.register_module()
class VideoHeatmapHead(HeatmapHead):
    """Decode key-frame features (B, D, H, W) to K heatmaps (B, K, H, W).

    ``forward``/``predict``/``loss`` take a tuple whose last tensor is the
    key frame's features; with ``test_cfg.flip_test`` ``predict`` takes
    ``[feats, feats_of_flipped_clip]`` as MMPose heads do.

    Args:
        in_channels (int): D.
        out_channels (int): K keypoints.
        conv_out_channels (Sequence[int], optional): Widths of 3x3 conv
            layers (conv-BN-ReLU) before the final 1x1 conv.
            Defaults to None (none).
        loss (dict): Loss config. Defaults to
            ``KeypointMSELoss(use_target_weight=True)``.
        decoder (dict, optional): Codec config for decoding.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 conv_out_channels: Optional[Sequence[int]] = None,
                 loss: dict = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 decoder: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deconv_out_channels=None,
            deconv_kernel_sizes=None,
            conv_out_channels=conv_out_channels,
            conv_kernel_sizes=(None if conv_out_channels is None else
                               (3, ) * len(conv_out_channels)),
            final_layer=dict(kernel_size=1),
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
