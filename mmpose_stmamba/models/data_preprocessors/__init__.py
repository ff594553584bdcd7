"""Data preprocessors."""
from .clip_data_preprocessor import ClipPoseDataPreprocessor

__all__ = ['ClipPoseDataPreprocessor']
