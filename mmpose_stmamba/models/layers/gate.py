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


class GateStream(nn.Module):
    """Depthwise conv + LayerNorm + SiLU.

    Args:
        channels (int): Dm.
        kernel_size (int): Depthwise kernel. Defaults to 3.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
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
        B, T, H, W, Dm = z.shape
        z = z.reshape(B * T, H, W, Dm).permute(0, 3, 1, 2)
        z = self.dwconv(z).permute(0, 2, 3, 1).reshape(B, T, H, W, Dm)
        return self.act(self.norm(z))
