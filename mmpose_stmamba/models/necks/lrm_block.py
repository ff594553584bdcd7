"""LRM: the Local Refinement Mamba block (GLSMamba Sec. 3.3).

References:
    * GLSMamba (Feng et al., ICCV 2025): the GSM block without channel
      attention, with WSTS instead of STS6D + STMM: non-overlapping
      h x w x T tube windows (8 x 6 x T), scanned frame by frame inside each
      window, forward and reversed.
    * LocalMamba (Huang et al., 2024): windows made contiguous in one long
      sequence, so a single scan carries state across windows.

Inferred: the two directions are summed after restoring the canonical
order (the op's pair sum); everything else as in :class:`GSMBlock`.
"""
from typing import Tuple

import torch.nn as nn
from mmpose.registry import MODELS

from ..layers import MultiOrderSSM, SpaceTimeMambaBlock, STMMerge


@MODELS.register_module()
class LRMBlock(SpaceTimeMambaBlock):
    """Local Refinement Mamba block.

    Args:
        channels (int): D, the block width.
        window (tuple[int]): Tube window (h, w); the window spans all T
            frames. Defaults to (8, 6).
        expansion (float): Scan width Dm = expansion * D. Defaults to 1.
        d_state (int): SSM state size N. Defaults to 16.
        dt_rank (int | str): Delta projection rank; 'auto' = ceil(Dm/16).
            Defaults to 'auto'.
        ffn_ratio (float): FFN hidden ratio. Defaults to 2.
        gate_kernel (int): Gate depthwise kernel. Defaults to 3.
        drop_path (float): Stochastic depth. Defaults to 0.
        scan_backend (str): Selective-scan backend. Defaults to 'auto'.
        conv_impl (str): The gate's depthwise convolution, 'torch',
            'triton' or 'auto' (fused on CUDA): :class:`GateStream`.
            Defaults to 'auto'.
        gate_cp (bool): Recompute the gate stream in the backward pass
            (:class:`SpaceTimeMambaBlock`). Defaults to False.
        gate_impl (str): The gate's LayerNorm, SiLU and product, 'torch',
            'triton' or 'auto' (fused on CUDA): :class:`GateStream`.
            Defaults to 'auto'.
        delta_recompute (bool): Hand the scan Delta's low-rank factors, so
            that the fused scan keeps those instead of Delta for the
            backward (:class:`~..layers.MultiOrderSSM`). Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 window: Tuple[int, int] = (8, 6),
                 expansion: float = 1.,
                 d_state: int = 16,
                 dt_rank='auto',
                 ffn_ratio: float = 2.,
                 gate_kernel: int = 3,
                 drop_path: float = 0.,
                 scan_backend: str = 'auto',
                 conv_impl: str = 'auto',
                 gate_cp: bool = False,
                 gate_impl: str = 'auto',
                 delta_recompute: bool = True):
        super().__init__(channels, expansion, ffn_ratio, gate_kernel,
                         drop_path, conv_impl, gate_cp, gate_impl)
        if len(window) != 2 or min(window) < 1:
            raise ValueError(f'window must be (h, w) >= 1, got {window}')
        inner = self.inner_channels
        self.channel_attention = nn.Identity()
        self.mixer = MultiOrderSSM(
            inner, ('window', 'window_rev'),
            d_state,
            dt_rank,
            window=tuple(window),
            backend=scan_backend,
            delta_recompute=delta_recompute)
        self.merge = STMMerge(inner, ('window', ), merge='sum')
