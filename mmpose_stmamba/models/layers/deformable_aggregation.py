"""Modulated deformable aggregation (DCNv2-style) for the STMM merge.

References:
    * DCNv2 (Zhu et al., CVPR 2019): offsets *and* modulation masks
      (sigmoid) predicted from the features by a convolution initialised to
      zero, so the layer starts as a plain convolution with masks of 0.5.
    * DCNv3 / InternImage (Wang et al., CVPR 2023): offsets and masks shared
      by groups of channels, depthwise sampling, then a pointwise output
      projection; this separable form is what makes deformable sampling
      affordable at high resolution.
    * TDAN / EDVR / PoseWarper: temporal alignment by deformable sampling of
      neighbouring frames with offsets predicted from the features.
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.2 (STMM): spatial and
      temporal modulation by deformable convolution.

Inferred (the paper is silent on the formula):
    * A sampling point is (frame tap tau, kernel cell (i, j)); its position
      in frame t + tau is the cell plus a learned (dy, dx).  Spatial
      modulation uses taps (0,) and a 3x3 kernel (within the frame);
      temporal modulation uses taps (-1, 0, 1) and a 1x1 kernel (the same
      pixel of the neighbouring frames, displaced by learned offsets).
      Frames beyond the clip's ends read zeros, like a padded convolution.
    * Offsets/masks come from a depthwise conv (3x3 in space; 3x3x3 over
      (t, y, x) for the temporal taps) plus a pointwise layer, per channel
      group; the value path is depthwise (one weight per channel and
      point) followed by a pointwise projection.
    * Three implementations give the same numbers: ``'grid_sample'``
      (default; ``F.grid_sample`` in fp32 positions, any input dtype, with a
      backward that recomputes one sampling point at a time instead of
      keeping all P sampled copies of the features), ``'torchvision'``
      (``torchvision.ops.deform_conv2d`` with mask, the reference DCNv2
      kernel; fp32 only, slow on GPU: see /work/shared/PERF_NOTES.md) and
      ``'triton'`` (:mod:`mmpose_stmamba.ops.deform_sample_triton`: all
      taps and points in one kernel per pass, x read once in its dtype,
      fp32 positions and accumulation; CUDA only).  ``'auto'`` picks
      ``'triton'`` for CUDA tensors when Triton imports and
      ``'grid_sample'`` otherwise, per call (so a CPU run of an ``'auto'``
      model is exactly the ``'grid_sample'`` one).  With the fused sampler
      the whole aggregation runs channels-last (B, T, H, W, C): the
      depthwise offset convolution through the fused kernel of
      :mod:`.depthwise`, the 1x1x1 convolutions as linear layers on the
      Conv3d weights (same parameters, same checkpoints), no layout copies
      (the GSM block's scan writes that layout).
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .depthwise import depthwise_cl
from .fused import require_fused, takes_fused

IMPLS = ('grid_sample', 'torchvision', 'triton', 'auto')
CP_MODES = (False, True, 'sampling', 'all')


class ModulatedDeformSampler(nn.Module):
    """Depthwise modulated deformable sampling (no output projection).

    Computes, for every channel c of group g, frame t and pixel p::

        out[c, t, p] = sum_{tau, k} w[c, tau, k] * m[g, tau, k, t, p]
                       * x[c, t + tau, p + cell_k + off[g, tau, k, t, p]]

    Args:
        channels (int): C.
        frame_taps (Sequence[int]): Frame offsets tau sampled.
        kernel_size (int): k of the k x k kernel cells.
        groups (int): G, channel groups sharing offsets and masks.
        impl (str): 'grid_sample', 'torchvision', 'triton' (the fused
            kernel of :mod:`mmpose_stmamba.ops.deform_sample_triton`; CUDA
            tensors only, raises otherwise) or 'auto' ('triton' for CUDA
            tensors when Triton imports, else 'grid_sample'; decided at
            each call from x's device).
    """

    def __init__(self, channels: int, frame_taps: Sequence[int],
                 kernel_size: int, groups: int, impl: str):
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        if channels % groups:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'groups ({groups})')
        self.frame_taps = tuple(frame_taps)
        self.kernel_size = kernel_size
        self.groups = groups
        self.impl = impl
        # choose the per-tap implementation once, not per call; 'triton'
        # and 'auto' replace the whole loop over taps (see forward)
        self._sample = getattr(self, f'_{impl}', self._grid_sample)
        points = kernel_size * kernel_size
        # Start as an average over the points (times the 0.5 masks).
        self.weight = nn.Parameter(
            torch.full((channels, len(self.frame_taps), points),
                       1. / (points * len(self.frame_taps))))

    @property
    def num_points(self) -> int:
        return len(self.frame_taps) * self.kernel_size**2

    def forward(self, x, offsets, masks):
        """Sample.

        Args:
            x (Tensor): (B, C, T, H, W).
            offsets (Tensor): (B, G, Tau, k*k, 2, T, H, W), (dy, dx) pixels.
            masks (Tensor): (B, G, Tau, k*k, T, H, W) in [0, 1].

        Returns:
            Tensor: (B, C, T, H, W).
        """
        if self.takes_fused(x):
            fused = require_fused(
                'deform_sample_triton').modulated_deform_sample
            return fused(x, offsets, masks, self.weight, self.frame_taps,
                         self.kernel_size)
        out = 0
        for i, tau in enumerate(self.frame_taps):
            out = out + self._sample(
                shift_frames(x, tau), offsets[:, :, i], masks[:, :, i],
                self.weight[:, i])
        return out

    def takes_fused(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` runs the fused op on x ('triton', or
        'auto' where it can run)."""
        return takes_fused(self.impl, x, 'deform_sample_triton')

    def _grid_sample(self, x, offsets, masks, weight):
        B, C, T, H, W = x.shape
        G, P = self.groups, self.kernel_size**2
        # Positions in fp32 even under autocast: in bf16 a normalised
        # coordinate resolves only ~0.12 px on a 64-pixel axis.
        # grid_sample wants input and grid of one dtype: sample in fp32.
        frames = x.transpose(1, 2).reshape(B * T * G, C // G, H, W).float()
        # absolute (y, x) of every point: pixel + kernel cell + offset
        r = self.kernel_size // 2
        cells = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
        ky, kx = torch.meshgrid(cells, cells, indexing='ij')
        rows = torch.arange(H, device=x.device, dtype=torch.float32)
        cols = torch.arange(W, device=x.device, dtype=torch.float32)
        py = rows[:, None, None] + ky.reshape(1, 1, P)  # (H, 1, P)
        px = cols[None, :, None] + kx.reshape(1, 1, P)  # (1, W, P)
        off = offsets.permute(0, 4, 1, 5, 6, 2, 3).float()
        gy = (py + off[..., 0]) * (2. / max(H - 1, 1)) - 1  # (B,T,G,H,W,P)
        gx = (px + off[..., 1]) * (2. / max(W - 1, 1)) - 1
        grid = torch.stack([gx, gy], dim=-1).reshape(B * T * G, H, W, P, 2)
        mod = masks.permute(0, 3, 1, 4, 5, 2).float()  # (B, T, G, H, W, P)
        out = _SampleAndSum.apply(frames, grid,
                                  mod.reshape(B * T, G, H, W, P),
                                  weight.float().view(G, C // G, P))
        return out.to(x.dtype).view(B, T, C, H, W).transpose(1, 2)

    def _torchvision(self, x, offsets, masks, weight):
        from torchvision.ops import deform_conv2d
        B, C, T, H, W = x.shape
        G, k = self.groups, self.kernel_size
        frames = x.transpose(1, 2).reshape(B * T, C, H, W)
        # torchvision layout: offset (N, G * k * k * 2, H, W) as (dy, dx)
        # per point, group-major; mask (N, G * k * k, H, W)
        off = offsets.permute(0, 4, 1, 2, 3, 5, 6).reshape(
            B * T, G * k * k * 2, H, W)
        mod = masks.permute(0, 3, 1, 2, 4, 5).reshape(B * T, G * k * k, H, W)
        out = deform_conv2d(
            frames,
            off,
            weight.reshape(C, 1, k, k),
            padding=k // 2,
            mask=mod)
        return out.view(B, T, C, H, W).transpose(1, 2)

    def flops(self, x, offsets, masks) -> int:
        """Analytic MACs: per output element and point, a bilinear sample (4
        MACs), the mask product and the weight product."""
        return x.numel() * self.num_points * 6

    def output_like(self, x, offsets, masks):
        """A zero tensor shaped like :meth:`forward`'s result."""
        return torch.zeros_like(x)


class _SampleAndSum(torch.autograd.Function):
    """sum_p w[g, c, p] * m[n, g, h, w, p] * bilinear(frames, grid[..., p]).

    A loop over the P points that keeps only its inputs for backward and
    recomputes one point's samples at a time there: autograd on the plain
    expression would keep all P sampled copies of the features (P times
    the input, in fp32), the largest activation of the block.

    Shapes: frames (N * G, c, H, W), grid (N * G, H, W, P, 2) normalised
    (x, y), masks (N, G, H, W, P), weight (G, c, P); output (N, G, c, H, W).
    """

    @staticmethod
    def _sample(frames, grid, point):
        return F.grid_sample(
            frames, grid[:, :, :, point], mode='bilinear',
            padding_mode='zeros', align_corners=True)

    @staticmethod
    def forward(ctx, frames, grid, masks, weight):
        N, G, H, W, P = masks.shape
        out = frames.new_zeros(N, G, frames.shape[1], H, W)
        for p in range(P):
            values = _SampleAndSum._sample(frames, grid, p).view_as(out)
            out += (values * masks[:, :, None, :, :, p] *
                    weight[None, :, :, p, None, None])
        ctx.save_for_backward(frames, grid, masks, weight)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        frames, grid, masks, weight = ctx.saved_tensors
        P = masks.shape[-1]
        grads = [torch.zeros_like(t) for t in (frames, grid, masks, weight)]
        for p in range(P):
            with torch.enable_grad():
                f = frames.detach().requires_grad_()
                g = grid.detach().requires_grad_()
                values = _SampleAndSum._sample(f, g, p).view_as(grad_out)
                m = masks[:, :, None, :, :, p]
                w = weight[None, :, :, p, None, None]
                grad_values = grad_out * m * w
                d_frames, d_grid = torch.autograd.grad(
                    values, (f, g), grad_values)
            grads[0] += d_frames
            grads[1] += d_grid
            values = values.detach() * grad_out
            grads[2][..., p] = (values * w).sum(dim=2)
            grads[3][..., p] = (values * m).sum(dim=(0, 3, 4))
        return tuple(grads)


def shift_frames(x: torch.Tensor, tau: int) -> torch.Tensor:
    """Frame t of the result is frame t + tau of x (zeros outside).

    Args:
        x (Tensor): (B, C, T, H, W).
        tau (int): Frame offset.

    Returns:
        Tensor: (B, C, T, H, W).
    """
    T = x.shape[2]
    if tau == 0:
        return x
    padded = F.pad(x, (0, 0, 0, 0, max(-tau, 0), max(tau, 0)))
    start = max(tau, 0)
    return padded[:, :, start:start + T]


class DeformableAggregation(nn.Module):
    """Modulated deformable convolution, separable form, over a clip.

    Offsets and masks are predicted from a guide (the features to align
    to); the values are sampled from the input stream.

    Args:
        channels (int): C.
        frame_taps (Sequence[int]): Frame offsets sampled; (0,) keeps the
            sampling within the frame. Defaults to (0,).
        kernel_size (int): Kernel cells per tap, k x k. Defaults to 3.
        groups (int): Channel groups sharing offsets/masks. Defaults to 4.
        impl (str): 'grid_sample', 'torchvision', 'triton' or 'auto' (see
            :class:`ModulatedDeformSampler`). Defaults to 'grid_sample'.
        with_cp (bool | str): Recompute in the backward pass instead of
            keeping activations, trading time for memory (as MMPose
            backbones' ``with_cp``): ``'sampling'`` (or True) the sampling
            only, which saves the (points x channels) samples of the
            ``'grid_sample'`` route and little else; ``'all'`` the whole
            aggregation (offset head, sampling, projection), which keeps
            only x and the guide (at GLSMamba-B's GSM block, batch 32, the
            two modulators keep 1.8 GB otherwise: docs/benchmark.md, run
            30).  Same outputs and gradients. Defaults to False.
    """

    def __init__(self,
                 channels: int,
                 frame_taps: Sequence[int] = (0, ),
                 kernel_size: int = 3,
                 groups: int = 4,
                 impl: str = 'grid_sample',
                 with_cp: bool = False):
        super().__init__()
        if with_cp not in CP_MODES:
            raise ValueError(f'with_cp must be one of {CP_MODES}, got '
                             f'{with_cp!r}')
        self.with_cp = 'sampling' if with_cp is True else with_cp
        self.sampler = ModulatedDeformSampler(channels, frame_taps,
                                              kernel_size, groups, impl)
        taps, P = len(frame_taps), kernel_size**2
        # the guide sees the neighbouring frames when we sample them
        head_t = 3 if any(frame_taps) else 1
        self.offset_dw = nn.Conv3d(
            channels,
            channels, (head_t, 3, 3),
            padding=(head_t // 2, 1, 1),
            groups=channels)
        self.offset_pw = nn.Conv3d(channels, groups * taps * P * 3, 1)
        # DCNv2 init: zero offsets, masks sigmoid(0) = 0.5
        nn.init.zeros_(self.offset_pw.weight)
        nn.init.zeros_(self.offset_pw.bias)
        self.proj = nn.Conv3d(channels, channels, 1)
        self._shape = (groups, taps, P)

    def channels_last(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` takes the channels-last route for x: the
        fused sampler's (:meth:`ModulatedDeformSampler.takes_fused`)."""
        return self.sampler.takes_fused(x)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """Aggregate x at positions predicted from x + guide.

        Two routes, the same numbers (up to rounding): with the fused
        sampler (:meth:`channels_last`) every step runs on (B, T, H, W, C)
        memory, the depthwise convolution through the fused kernel of
        :mod:`.depthwise` and the 1x1x1 convolutions as linear layers on
        the same weights, and the result is a channels-last view; else the
        Conv3d modules run on the (B, C, T, H, W) layout.

        Args:
            x (Tensor): (B, C, T, H, W) stream to sample (channel stride 1
                is the fast layout of the channels-last route).
            guide (Tensor): (B, C, T, H, W) context for offsets/masks.

        Returns:
            Tensor: (B, C, T, H, W).
        """
        if self.with_cp == 'all' and torch.is_grad_enabled():
            return checkpoint(self._aggregate, x, guide, use_reentrant=False)
        return self._aggregate(x, guide)

    def _aggregate(self, x: torch.Tensor,
                   guide: torch.Tensor) -> torch.Tensor:
        B, _, T, H, W = x.shape
        G, taps, P = self._shape
        fused = self.channels_last(x)
        if fused:
            h = depthwise_cl(self.offset_dw,
                             (x + guide).permute(0, 2, 3, 4, 1), 'triton')
            pred = F.linear(h, self.offset_pw.weight.flatten(1),
                            self.offset_pw.bias)
            pred = pred.view(B, T, H, W, G, taps, P, 3).permute(
                0, 4, 5, 6, 7, 1, 2, 3)
        else:
            pred = self.offset_pw(self.offset_dw(x + guide))
            pred = pred.view(B, G, taps, P, 3, T, H, W)
        offsets, masks = pred[:, :, :, :, :2], pred[:, :, :, :, 2].sigmoid()
        if self.with_cp == 'sampling' and torch.is_grad_enabled():
            sampled = checkpoint(
                self.sampler, x, offsets, masks, use_reentrant=False)
        else:
            sampled = self.sampler(x, offsets, masks)
        if fused:
            return F.linear(sampled.permute(0, 2, 3, 4, 1),
                            self.proj.weight.flatten(1),
                            self.proj.bias).permute(0, 4, 1, 2, 3)
        return self.proj(sampled)
