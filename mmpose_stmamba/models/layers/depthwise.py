"""Depthwise 'same' convolutions of channels-last clips, fused where it can.

The gate stream and the STMM offset heads hold depthwise ``nn.Conv2d`` /
``nn.Conv3d`` modules (their parameters and checkpoints are those of the
plain layers); :func:`depthwise_cl` applies one to (B, T, H, W, C) tokens
either through the fused kernel of :mod:`mmpose_stmamba.ops.dwconv_triton`
(CUDA, no layout copies, fp32 accumulation) or through the module itself
on a (B, C, T, H, W) / (B * T, C, H, W) copy, the reference and the CPU
path.  ``impl``:

* ``'torch'``: the module (what the CPU always runs under ``'auto'``);
* ``'triton'``: the fused kernel (CUDA tensors; raises elsewhere, except
  under Triton's interpreter, ``TRITON_INTERPRET=1``, as the CPU tests
  run it);
* ``'auto'``: ``'triton'`` for CUDA tensors when Triton imports, else
  ``'torch'``, decided per call.
"""
from typing import Union

import torch
import torch.nn as nn

from .fused import require_fused, takes_fused

CONV_IMPLS = ('torch', 'triton', 'auto')


def check_conv_impl(impl: str) -> str:
    if impl not in CONV_IMPLS:
        raise ValueError(f'impl must be one of {CONV_IMPLS}, got {impl!r}')
    return impl


def _check_same_depthwise(conv):
    size = conv.kernel_size
    if (conv.groups != conv.in_channels or conv.out_channels
            != conv.in_channels or any(s != 1 for s in conv.stride)
            or any(d != 1 for d in conv.dilation)
            or tuple(conv.padding) != tuple(k // 2 for k in size)
            or any(k % 2 == 0 for k in size)):
        raise ValueError(f'{conv} is not a depthwise, stride-1, odd-kernel '
                         "'same' convolution")


def depthwise_cl(conv: Union[nn.Conv2d, nn.Conv3d], x: torch.Tensor,
                 impl: str) -> torch.Tensor:
    """Apply a depthwise 'same' convolution to channels-last tokens.

    Args:
        conv (nn.Conv2d | nn.Conv3d): Depthwise (groups = channels),
            stride 1, odd kernel, padding kernel // 2.  A Conv2d acts on
            each frame, a Conv3d over (T, H, W).
        x (Tensor): (B, T, H, W, C), any strides.
        impl (str): 'torch', 'triton' or 'auto' (module docstring).

    Returns:
        Tensor: (B, T, H, W, C); contiguous from the fused kernel, a
        channels-last view from the module.
    """
    _check_same_depthwise(conv)
    if takes_fused(impl, x, 'dwconv_triton'):
        op = require_fused('dwconv_triton').depthwise_conv_cl
        weight = conv.weight if conv.weight.dim() == 5 else \
            conv.weight.unsqueeze(2)
        return op(x, weight, conv.bias)
    B, T, H, W, C = x.shape
    if isinstance(conv, nn.Conv3d):
        return conv(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    y = conv(x.reshape(B * T, H, W, C).permute(0, 3, 1, 2))
    return y.permute(0, 2, 3, 1).reshape(B, T, H, W, C)
