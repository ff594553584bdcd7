"""Project code: importing registers ``SingleFrameClipNeck`` in MMPose's
``MODELS`` (scope ``mmpose``)."""
from .single_frame_clip_neck import SingleFrameClipNeck

__all__ = ['SingleFrameClipNeck']
