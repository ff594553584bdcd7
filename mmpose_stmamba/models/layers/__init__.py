"""Building blocks of the GLSMamba neck (one concept per file)."""
from .channel_attention import SequentialChannelAttention
from .deformable_aggregation import (DeformableAggregation,
                                     ModulatedDeformSampler)
from .embeddings import TemporalEmbedding, offset_slots, sincos_embedding_2d
from .ffn import FFN
from .gate import GateStream
from .ssm_mixer import MultiOrderScan, MultiOrderSSM
from .st_mamba_block import SpaceTimeMambaBlock
from .stmm import KeepStream, STMMerge

__all__ = [
    'SequentialChannelAttention', 'DeformableAggregation',
    'ModulatedDeformSampler', 'TemporalEmbedding', 'offset_slots',
    'sincos_embedding_2d', 'FFN', 'GateStream', 'MultiOrderScan',
    'MultiOrderSSM', 'SpaceTimeMambaBlock', 'KeepStream', 'STMMerge'
]
