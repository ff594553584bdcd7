"""GSM: the Global Spatiotemporal Mamba block (GLSMamba Sec. 3.2).

References:
    * GLSMamba (Feng et al., ICCV 2025): sequential channel attention, the
      six STS6D scans (unified, spatial, temporal, each forward and
      reversed) through S6, STMM merge, gate stream, FFN.  The ablations
      (Sec. 4) switch scan types, STMM and the channel attention.

Inferred choices are listed in the layer files (layers/*.py) and in
docs/model.md; the defaults here are the GLSMamba-B configuration.
"""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmpose.registry import MODELS

from ..layers import (MultiOrderSSM, SequentialChannelAttention,
                      SpaceTimeMambaBlock, STMMerge)
from ..layers.stmm import SCAN_TYPES


@MODELS.register_module()
class GSMBlock(SpaceTimeMambaBlock):
    """Global Spatiotemporal Mamba block.

    Args:
        channels (int): D, the block width.
        num_frames (int): Training clip length (channel attention slots).
            Defaults to 5.
        expansion (float): Scan width Dm = expansion * D. Defaults to 1.
        d_state (int): SSM state size N. Defaults to 16.
        dt_rank (int | str): Delta projection rank; 'auto' = ceil(Dm/16).
            Defaults to 'auto'.
        ffn_ratio (float): FFN hidden ratio. Defaults to 2.
        se_reduction (float): Channel-attention MLP reduction over the
            T * D concatenated channels. Defaults to 1.
        scans (Sequence[str]): Scan types, a subset of ('unified',
            'spatial', 'temporal'), each run forward and reversed.
            Defaults to all three (STS6D).
        merge (str): 'stmm' or 'sum'. Defaults to 'stmm'.
        channel_attention (bool): Use sequential channel attention.
            Defaults to True.
        stmm_cfg (dict, optional): Extra :class:`STMMerge` arguments
            (``impl``, ``groups``, ``spatial_cfg``, ``temporal_cfg``,
            ``with_cp``).
        gate_kernel (int): Gate depthwise kernel. Defaults to 3.
        drop_path (float): Stochastic depth. Defaults to 0.
        unified_layout (str): Panorama layout of the unified scan
            (inferred). Defaults to 'wide_rows' (frames side by side).
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
                 num_frames: int = 5,
                 expansion: float = 1.,
                 d_state: int = 16,
                 dt_rank='auto',
                 ffn_ratio: float = 2.,
                 se_reduction: float = 1.,
                 scans: Sequence[str] = SCAN_TYPES,
                 merge: str = 'stmm',
                 channel_attention: bool = True,
                 stmm_cfg: Optional[dict] = None,
                 gate_kernel: int = 3,
                 drop_path: float = 0.,
                 unified_layout: str = 'wide_rows',
                 scan_backend: str = 'auto',
                 conv_impl: str = 'auto',
                 gate_cp: bool = False,
                 gate_impl: str = 'auto',
                 delta_recompute: bool = True):
        super().__init__(channels, expansion, ffn_ratio, gate_kernel,
                         drop_path, conv_impl, gate_cp, gate_impl)
        scans = self._check_scans(scans)
        inner = self.inner_channels
        self.channel_attention = SequentialChannelAttention(
            channels, num_frames, se_reduction) \
            if channel_attention else nn.Identity()
        orders = scans + tuple(f'{s}_rev' for s in scans)
        self.mixer = MultiOrderSSM(
            inner,
            orders,
            d_state,
            dt_rank,
            unified_layout=unified_layout,
            backend=scan_backend,
            delta_recompute=delta_recompute)
        self.merge = STMMerge(inner, scans, merge, **(stmm_cfg or {}))

    @staticmethod
    def _check_scans(scans) -> Tuple[str, ...]:
        scans = (scans, ) if isinstance(scans, str) else tuple(scans)
        bad = [s for s in scans if s not in SCAN_TYPES]
        if not scans or bad or len(set(scans)) != len(scans):
            raise ValueError(f'scans must be distinct names from '
                             f'{SCAN_TYPES}, got {scans}')
        # canonical STS6D order, whatever order the config lists them in
        return tuple(s for s in SCAN_TYPES if s in scans)
