"""Load a script of ``tools/`` as a module (``tools/`` is not a package).

Shared by the tests of the command-line tools; importable from every test
module because ``tests/conftest.py`` puts ``tests/`` on ``sys.path``.
"""
import importlib.util
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relpath: str):
    """Execute ``tools/<relpath>`` and return it as a module.

    Args:
        relpath (str): Path below ``tools/``, e.g. ``'gpu/shim.py'``.
    """
    path = osp.join(REPO, 'tools', relpath)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
