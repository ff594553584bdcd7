"""GLSMamba models; importing registers them in ``mmpose.registry.MODELS``.

Registered: ``GSMBlock``, ``LRMBlock``, ``GLSMambaNeck``,
``ViTPoseDeconvNeck``, ``VideoHeatmapHead``, ``VideoTopdownPoseEstimator``,
``ClipPoseDataPreprocessor``.
"""
from .data_preprocessors import ClipPoseDataPreprocessor
from .heads import VideoHeatmapHead
from .necks import GLSMambaNeck, GSMBlock, LRMBlock, ViTPoseDeconvNeck
from .pose_estimators import VideoTopdownPoseEstimator

__all__ = [
    'ClipPoseDataPreprocessor', 'VideoHeatmapHead', 'GLSMambaNeck',
    'GSMBlock', 'LRMBlock', 'ViTPoseDeconvNeck', 'VideoTopdownPoseEstimator'
]
