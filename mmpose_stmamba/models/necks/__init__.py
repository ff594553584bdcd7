"""Necks: the GLSMamba blocks and neck, and ViTPose's deconv stage."""
from .glsmamba_neck import GLSMambaNeck
from .gsm_block import GSMBlock
from .lrm_block import LRMBlock
from .vitpose_deconv import ViTPoseDeconvNeck

__all__ = ['GLSMambaNeck', 'GSMBlock', 'LRMBlock', 'ViTPoseDeconvNeck']
