"""Placeholders for compiled modules the GPU tools never call.

References:
    * mmpose 1.3.2: ``import mmpose.models`` reaches an unguarded
      ``from mmcv.ops import MultiScaleDeformableAttention`` (EDPose) and
      ``from mmdet.utils import ConfigType, reduce_mean`` (RTMO);
      ``mmpose.datasets`` / ``evaluation`` import xtcocotools (a C
      extension).

The lent GPU machines here have only pure-Python wheels (mmcv-lite, no
mmdet, no xtcocotools build).  :func:`install_shim` answers those imports
with placeholder modules whose classes raise when used, so that
``import mmpose_stmamba`` (which registers everything) works there.  Used
by tools/temporal_evidence.py (``--shim``), tools/gpu/run_gpu_tests.py
and, through it, tools/benchmark.py.  Never installed by the package
itself: on a full install nothing is missing and nothing is replaced.
"""
import importlib.machinery
import importlib.util
import sys
from typing import List


class _MissingModules:
    """Import hook answering the modules of ``missing`` (see the module
    docstring) with placeholders."""

    NAMES = ('mmcv.ops', 'xtcocotools', 'xtcocotools.coco',
             'xtcocotools.cocoeval', 'xtcocotools.mask', 'mmdet',
             'mmdet.utils')
    PACKAGES = ('xtcocotools', 'mmdet')
    ATTRS = ('MultiScaleDeformableAttention', 'COCO', 'COCOeval',
             'ConfigType', 'reduce_mean')

    def __init__(self, missing):
        self.names = [
            n for n in self.NAMES if any(
                n == m or n.startswith(m + '.') for m in missing)
        ]

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            return importlib.machinery.ModuleSpec(
                name, self, is_package=name in self.PACKAGES)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__

        def unavailable(*args, **kwargs):
            raise ImportError(f'{name} is a placeholder installed by '
                              'tools/gpu/shim.py (not installed here)')

        for attr in self.ATTRS:
            setattr(module, attr, type(attr, (), dict(__init__=unavailable)))
        if name in self.PACKAGES:
            module.__path__ = []


def install_shim() -> List[str]:
    """Answer ``mmcv.ops``, ``xtcocotools`` and ``mmdet`` imports with
    placeholders where the real modules cannot be imported.

    Returns:
        list[str]: The modules replaced.
    """
    missing = []
    try:
        import mmcv._ext  # noqa: F401
    except ImportError:
        missing.append('mmcv.ops')
    for name in ('xtcocotools', 'mmdet'):
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    if missing and not any(
            isinstance(f, _MissingModules) for f in sys.meta_path):
        sys.meta_path.insert(0, _MissingModules(missing))
    return missing
