"""Keypoint layouts (MMPose ``dataset_info`` files) of the clip datasets.

The files here are read with ``mmengine.Config.fromfile`` through
``METAINFO = dict(from_file=<absolute path>)``, so they resolve from any
working directory and do not depend on MMPose's ``.mim`` config copy.
"""
import os.path as osp

METAINFO_DIR = osp.dirname(osp.abspath(__file__))


def metainfo_file(name: str) -> str:
    """Absolute path of the layout file ``<name>.py`` in this folder."""
    return osp.join(METAINFO_DIR, f'{name}.py')
