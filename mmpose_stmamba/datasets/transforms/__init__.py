"""Clip transforms: loading, one-draw wrapper, packing."""
from .formatting import CLIP_META_KEYS, PackClipInputs
from .loading import LoadClipFrames
from .wrappers import ApplyToClip

__all__ = ['ApplyToClip', 'CLIP_META_KEYS', 'LoadClipFrames', 'PackClipInputs']
