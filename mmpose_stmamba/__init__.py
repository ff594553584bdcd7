"""mmpose_stmamba: GLSMamba video pose estimation as an MMPose 1.x plugin.

Importing this package registers every module of the plugin into MMPose's
registries (scope ``mmpose``): put
``custom_imports = dict(imports=['mmpose_stmamba'],
allow_failed_imports=False)`` in a config.  Nothing optional (mamba-ssm,
Triton) is imported here.

Shape letters used in docstrings: B batch, T frames, H x W feature size,
C channels, D inner width, N state size, K scan orders, L = T * H * W tokens.
"""
from . import datasets, engine, evaluation, models, ops  # noqa: F401
from .version import __version__

__all__ = ['__version__', 'datasets', 'engine', 'evaluation', 'models', 'ops']
