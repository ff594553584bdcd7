"""Gating stream of the GSM/LRM block (GLSMamba Sec. 3.2).

References:
    * GLSMamba (Feng et al., ICCV 2025): a parallel stream of depthwise
      convolution, LayerNorm and SiLU gives the gating attention that
      multiplies the merged scan features.
    * Mamba / VMamba: the multiplicative SiLU gate of the second half of
      the input projection.

Inferred: the depthwise convolution is 2D (k x k within each frame, no
temporal extent); the scans already mix time.
"""
import torch
import torch.nn as nn

from .depthwise import check_conv_impl, depthwise_cl


class GateStream(nn.Module):
    """Depthwise conv + LayerNorm + SiLU.

    Args:
        channels (int): Dm.
        kernel_size (int): Depthwise kernel. Defaults to 3.
        conv_impl (str): How the depthwise convolution runs on the
            channels-last tokens: 'torch' (the Conv2d on a (B * T, Dm, H, W)
            view), 'triton' (the fused kernel, CUDA) or 'auto' (fused on
            CUDA when Triton imports); see :mod:`.depthwise`.  Same
            parameters either way. Defaults to 'auto'.
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 conv_impl: str = 'auto'):
        super().__init__()
        self.conv_impl = check_conv_impl(conv_impl)
        self.dwconv = nn.Conv2d(
            channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.act = nn.SiLU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Gate values.

        Args:
            z (Tensor): (B, T, H, W, Dm) channels-last.

        Returns:
            Tensor: (B, T, H, W, Dm).
        """
        return self.act(self.norm(depthwise_cl(self.dwconv, z,
                                               self.conv_impl)))
