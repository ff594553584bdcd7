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
from .fused import fused_module, require_fused, takes_fused


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
        norm_impl (str): How :meth:`gated` runs LayerNorm, SiLU and the
            product with the main stream: 'torch' (the modules, then the
            product), 'triton' (one fused kernel each way that keeps only
            its inputs and two fp32 numbers per token for the backward,
            :mod:`mmpose_stmamba.ops.gate_triton`; CUDA, or Triton's
            interpreter) or 'auto' (fused for CUDA tensors when Triton
            imports, else 'torch'). Same parameters either way.
            Defaults to 'auto'.
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 conv_impl: str = 'auto', norm_impl: str = 'auto'):
        super().__init__()
        self.conv_impl = check_conv_impl(conv_impl)
        self.norm_impl = check_conv_impl(norm_impl)
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

    def gated(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``y * forward(z)``: the main stream times the gate of z.

        Args:
            y (Tensor): (B, T, H, W, Dm) merged scans.
            z (Tensor): (B, T, H, W, Dm) the gate stream's input.

        Returns:
            Tensor: (B, T, H, W, Dm); from the fused kernel in the
            autocast dtype where autocast is on (the torch path gives
            fp32 there: LayerNorm runs in fp32).
        """
        c = depthwise_cl(self.dwconv, z, self.conv_impl)
        if self._fuses_norm(c):
            op = require_fused('gate_triton', 'norm_impl')
            return op.gated_norm_silu(y, c, self.norm.weight,
                                      self.norm.bias, self.norm.eps)
        return y * self.act(self.norm(c))

    def _fuses_norm(self, c: torch.Tensor) -> bool:
        # 'auto' keeps the torch path for channels wider than the kernel
        # holds in registers; 'triton' lets the op refuse them.
        return takes_fused(self.norm_impl, c, 'gate_triton') and (
            self.norm_impl == 'triton'
            or c.shape[-1] <= fused_module('gate_triton').MAX_CHANNELS)
