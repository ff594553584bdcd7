"""Heads of the video pose estimator."""
from .video_heatmap_head import VideoHeatmapHead

__all__ = ['VideoHeatmapHead']
