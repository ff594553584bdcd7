"""STMM: spatial- and temporal-modulated merging of the scan results.

References:
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.2: the forward/reversed
      results are first merged by type (unified, spatial, temporal), then
      spatial and temporal modulation by deformable convolution aggregates
      the three types; the ablation baseline merges by plain summation.

Inferred (the paper gives no formula):
    * The merged feature is a sum over the scan types present, each passed
      through its modulator::

          guide = y_u + y_s + y_t                       (the 'sum' merge)
          F = y_u + DCN_spatial(y_s; guide) + DCN_temporal(y_t; guide)

      The unified result (the joint space-time view) is kept as is; the
      spatial result is re-aggregated within each frame and the temporal
      result across neighbouring frames, at positions predicted from the
      stream plus the guide.  This costs parameters only for the spatial
      and temporal types, as the paper's ablation implies (unified-only and
      "STS6D without STMM" have the same size).
    * ``merge='sum'`` makes every modulator a pass-through, giving the
      ablation's summation baseline.  LRM uses the same module with the
      single 'window' type (its forward/reversed pair is already summed).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from .deformable_aggregation import DeformableAggregation

SCAN_TYPES = ('unified', 'spatial', 'temporal')
MERGES = ('stmm', 'sum')


class KeepStream(nn.Module):
    """The switched-off modulator: returns its stream unchanged (the
    two-argument counterpart of ``nn.Identity``)."""

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return x


class STMMerge(nn.Module):
    """Merge P per-type scan results into one feature map.

    Args:
        channels (int): Dm.
        scan_types (Sequence[str]): Type of each of the P results, in the
            order the scan returns them.
        merge (str): 'stmm' (deformable modulation) or 'sum'.
            Defaults to 'stmm'.
        spatial_cfg (dict, optional): Extra arguments of the spatial
            :class:`DeformableAggregation` (defaults: taps (0,), 3x3).
        temporal_cfg (dict, optional): Extra arguments of the temporal one
            (defaults: taps (-1, 0, 1), 1x1).
        impl (str): Deformable sampling implementation, 'grid_sample',
            'torchvision', 'triton' (fused kernel, CUDA) or 'auto' ('triton'
            on CUDA tensors when Triton imports, else 'grid_sample'); see
            :class:`~.deformable_aggregation.ModulatedDeformSampler`.
            Defaults to 'grid_sample'.
        groups (int): Channel groups sharing offsets. Defaults to 4.
        with_cp (bool | str): Recompute the modulators in the backward
            pass: ``'sampling'`` (or True) their sampling, ``'all'`` the
            whole of each (:class:`DeformableAggregation`).
            Defaults to False.
    """

    def __init__(self,
                 channels: int,
                 scan_types: Sequence[str],
                 merge: str = 'stmm',
                 spatial_cfg: Optional[dict] = None,
                 temporal_cfg: Optional[dict] = None,
                 impl: str = 'grid_sample',
                 groups: int = 4,
                 with_cp=False):
        super().__init__()
        if merge not in MERGES:
            raise ValueError(f'merge must be one of {MERGES}, got {merge!r}')
        self.scan_types = tuple(scan_types)
        modulate = dict(
            spatial=dict(frame_taps=(0, ), kernel_size=3,
                         **(spatial_cfg or {})),
            temporal=dict(frame_taps=(-1, 0, 1), kernel_size=1,
                          **(temporal_cfg or {})))
        self.modulators = nn.ModuleList()
        for kind in self.scan_types:
            if merge == 'stmm' and kind in modulate:
                self.modulators.append(
                    DeformableAggregation(
                        channels,
                        impl=impl,
                        groups=groups,
                        with_cp=with_cp,
                        **modulate[kind]))
            else:
                self.modulators.append(KeepStream())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Merge.

        Args:
            y (Tensor): (B, P, Dm, T, H, W) pair-merged scan results, any
                strides.

        Returns:
            Tensor: (B, Dm, T, H, W), channels-last in memory on the fused
            route.
        """
        # The fused modulators run channels-last, the fused scan's layout;
        # the Conv3d ones want (B, C, T, H, W): fed channels-last, cuDNN
        # picked a weight-gradient path 5x slower than the whole scan (H100
        # profile, docs/benchmark.md), so they get one copy.
        if not all(m.channels_last(y) for m in self.modulators
                   if isinstance(m, DeformableAggregation)):
            y = y.contiguous()
        parts = _Unbind.apply(y)
        guide = _total(parts)
        return _total([
            modulate(part, guide)
            for part, modulate in zip(parts, self.modulators)
        ])


def _total(tensors):
    """t0 + t1 + ... (``sum`` would start with an extra 0 + t0 copy)."""
    out = tensors[0]
    for t in tensors[1:]:
        out = out + t
    return out


class _Unbind(torch.autograd.Function):
    """``y.unbind(1)`` whose backward writes the parts' gradients into one
    tensor laid out like y.

    Indexing y[:, i] per part made autograd build a zero tensor of y's
    size per part and add them up, and ``unbind``'s backward stacks into
    the contiguous layout, which the fused scan's backward then transposes
    to its own (channels-last) one: 6.5 ms of the GSM block's 110 (H200,
    B 32, run 16, docs/benchmark.md) against three copies here.
    """

    @staticmethod
    def forward(ctx, y):
        ctx.like = (y.shape, y.stride(), y.dtype, y.device)
        return tuple(y.unbind(1))

    @staticmethod
    def backward(ctx, *grads):
        shape, stride, dtype, device = ctx.like
        out = torch.empty_strided(shape, stride, dtype=dtype, device=device)
        for i, grad in enumerate(grads):
            if grad is None:
                out[:, i].zero_()
            else:
                out[:, i].copy_(grad)
        return out
