"""Model tests: register the plugin, set the scope, expose the builders."""
import os.path as osp
import sys

import pytest
from mmengine.registry import init_default_scope

import mmpose_stmamba  # noqa: F401  (registers the modules)

# ``model_builders`` sits next to this file; make it importable by the
# test modules of the sub-folders (the tests are not a package).
sys.path.insert(0, osp.dirname(__file__))


@pytest.fixture(autouse=True)
def mmpose_scope():
    init_default_scope('mmpose')
