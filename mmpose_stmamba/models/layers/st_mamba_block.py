"""The block shared by GSM and LRM: channel attention, scans, merge, gate.

References:
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.2-3.3: sequential channel
      attention -> main stream (scans, merge) times gate stream
      (depthwise conv, LayerNorm, SiLU) -> FFN; LRM is the same block
      without channel attention and with windowed scans.
    * VMamba's VSS block and Mamba's block: pre-norm residual branches, an
      input projection split into the main and gate halves, an output
      projection.

Inferred (the paper is silent on norms, residuals and projections):
    * ``x = x + out_proj(merge(scan(silu(u))) * gate(z))`` with
      ``u, z = in_proj(channel_attention(norm1(x)))``, then
      ``x = x + ffn(norm2(x))``.  Channel attention weights the branch
      input, not the residual stream: weights below 1 on the residual
      would shrink it block after block.
    * SiLU on the main stream before the scan, as Mamba applies after its
      short convolution (there is no convolution on the main stream here;
      the paper puts the depthwise conv on the gate stream).
"""
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath

from .ffn import FFN
from .gate import GateStream


class SpaceTimeMambaBlock(nn.Module):
    """Pre-norm residual block around a multi-order scan mixer.

    Subclasses build ``channel_attention``, ``mixer`` and ``merge``.

    Args:
        channels (int): D, the block width.
        expansion (float): Dm = expansion * D, the scan width.
        ffn_ratio (float): FFN hidden ratio.
        gate_kernel (int): Depthwise kernel of the gate stream.
        drop_path (float): Stochastic depth rate of both branches.
        conv_impl (str): The gate's depthwise convolution: 'torch',
            'triton' or 'auto' (:class:`GateStream`). Defaults to 'auto'.
        gate_cp (bool): Recompute the gate stream and its product with the
            merged scans in the backward pass instead of keeping their
            activations.  With the torch gate under bf16 autocast that
            saves LayerNorm's fp32 input and output and the fp32 gate
            (~1.1 GB at GLSMamba-B's size and batch 32: peak 9.65 -> 8.59
            GiB for ~2 ms, docs/benchmark.md run 28); with the fused gate
            (``gate_impl``, the CUDA default) only 0.18 GiB (run 29).  Same
            outputs and gradients. Defaults to False.
        gate_impl (str): The gate's LayerNorm, SiLU and product: 'torch',
            'triton' (fused) or 'auto' (fused on CUDA): ``norm_impl`` of
            :class:`GateStream`. Defaults to 'auto'.
    """

    def __init__(self, channels: int, expansion: float, ffn_ratio: float,
                 gate_kernel: int, drop_path: float,
                 conv_impl: str = 'auto', gate_cp: bool = False,
                 gate_impl: str = 'auto'):
        super().__init__()
        self.gate_cp = gate_cp
        inner = int(round(channels * expansion))
        self.inner_channels = inner
        self.norm1 = nn.LayerNorm(channels)
        self.in_proj = nn.Linear(channels, 2 * inner, bias=False)
        self.act = nn.SiLU()
        self.gate = GateStream(inner, gate_kernel, conv_impl, gate_impl)
        self.out_proj = nn.Linear(inner, channels, bias=False)
        self.norm2 = nn.LayerNorm(channels)
        self.ffn = FFN(channels, ffn_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block.

        Args:
            x (Tensor): (B, T, H, W, D) channels-last clip tokens.

        Returns:
            Tensor: (B, T, H, W, D).
        """
        h = self.channel_attention(self.norm1(x))
        u, z = self.in_proj(h).chunk(2, dim=-1)  # (B, T, H, W, Dm) each
        y = self.merge(self.mixer(self.act(u)))  # (B, Dm, T, H, W)
        y = y.permute(0, 2, 3, 4, 1)
        if self.gate_cp and torch.is_grad_enabled():
            y = cp.checkpoint(self._gated, y, z, use_reentrant=False)
        else:
            y = self._gated(y, z)
        x = x + self.drop_path(self.out_proj(y))
        return x + self.drop_path(self.ffn(self.norm2(x)))

    def _gated(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The merged scans (B, T, H, W, Dm) times the gate of z."""
        return self.gate.gated(y, z)
