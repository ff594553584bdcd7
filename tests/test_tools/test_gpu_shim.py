"""tools/gpu/shim.py: placeholders for compiled modules on GPU machines."""
import importlib.util
import sys

import pytest
from tool_loader import load_tool


@pytest.fixture(scope='module')
def shim():
    return load_tool('gpu/shim.py')


def _load(finder, name):
    spec = finder.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finder_answers_only_missing(shim):
    finder = shim._MissingModules(['mmcv.ops'])
    assert finder.find_spec('mmcv.ops') is not None
    assert finder.find_spec('xtcocotools') is None
    assert finder.find_spec('mmdet.utils') is None
    assert finder.find_spec('numpy') is None
    finder = shim._MissingModules(['xtcocotools', 'mmdet'])
    assert finder.find_spec('mmcv.ops') is None
    with pytest.raises(ImportError, match='placeholder'):
        _load(finder, 'xtcocotools.coco').COCO('annotations.json')
    # what mmpose's RTMO head imports from mmdet at import time
    utils = _load(finder, 'mmdet.utils')
    assert utils.ConfigType is not None
    with pytest.raises(ImportError, match='placeholder'):
        utils.reduce_mean(1.0)
    assert _load(finder, 'mmdet').__path__ == []


def test_install_replaces_nothing_on_a_full_install(shim):
    # this machine has full mmcv, mmdet and xtcocotools: nothing is missing
    before = list(sys.meta_path)
    assert shim.install_shim() == []
    assert sys.meta_path == before
