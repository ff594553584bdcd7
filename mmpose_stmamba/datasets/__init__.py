"""Clip data sets, clip transforms and the missing-frame report hook.

Importing this package registers (MMPose registries, scope ``mmpose``):
DATASETS ``PoseTrackClipDataset``, ``JhmdbClipDataset``; TRANSFORMS
``LoadClipFrames``, ``ApplyToClip``, ``PackClipInputs``; HOOKS
``MissingFrameReportHook``.
"""
from .base_clip_dataset import BaseClipDataset
from .clip_utils import DataFormatError
from .jhmdb_clip_dataset import JhmdbClipDataset
from .missing_frame_hook import MissingFrameReportHook
from .posetrack_clip_dataset import PoseTrackClipDataset
from .transforms import (CLIP_META_KEYS, ApplyToClip, LoadClipFrames,
                         PackClipInputs)

__all__ = [
    'ApplyToClip', 'BaseClipDataset', 'CLIP_META_KEYS', 'DataFormatError',
    'JhmdbClipDataset', 'LoadClipFrames', 'MissingFrameReportHook',
    'PackClipInputs', 'PoseTrackClipDataset'
]
