"""Feed-forward layer of the GSM/LRM block.

References:
    * GLSMamba (Feng et al., ICCV 2025): the gated features pass an FFN.
    * ViT / timm ``Mlp``: Linear - GELU - Linear on channels-last tokens.

Inferred: the hidden ratio (default 2 in the configs, chosen for the
paper's FLOP budget: see docs/model.md) and the GELU activation.
"""
import torch
import torch.nn as nn


class FFN(nn.Module):
    """Two-layer MLP on the channel dimension.

    Args:
        channels (int): D.
        ratio (float): Hidden width = ratio * D. Defaults to 2.
    """

    def __init__(self, channels: int, ratio: float = 2.):
        super().__init__()
        hidden = int(round(channels * ratio))
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (Tensor): (..., D). Returns: Tensor: (..., D)."""
        return self.fc2(self.act(self.fc1(x)))
