"""Run the ops and model tests on a GPU machine.

References:
    * tools/gpu/setup_gpu.sh installs what these tests need.

A GPU machine here has no full mmcv (only mmcv-lite, whose ``mmcv.ops``
does not import), no mmdet and no xtcocotools build, and
``import mmpose_stmamba`` registers everything, including parts that
import ``mmpose.models``.  tools/gpu/shim.py answers those imports with
placeholders first (the same mechanism as tools/temporal_evidence.py
``--shim``).  If the import still fails, the package is entered without
running its ``__init__`` (its sub-packages still import normally), so that
the ops and block tests run; the tests that need the whole package are
reported as not collected rather than silently passing.

Usage: python tools/gpu/run_gpu_tests.py [pytest args]
    (default: tests/test_ops tests/test_models -ra, skipping the Triton
    interpreter test, which needs no GPU)
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def enter_package_lightly():
    """Import mmpose_stmamba, or a shell of it whose __init__ did not run.

    Returns:
        str: '' when the full package imported, else why it did not.
    """
    import importlib
    import types
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from shim import install_shim
    replaced = install_shim()
    if replaced:
        print(f'[gpu] placeholders for {replaced} (tools/gpu/shim.py)')
    try:
        importlib.import_module('mmpose_stmamba')
        return ''
    except Exception as err:  # something the shim does not cover
        reason = f'{type(err).__name__}: {err}'
    for name in [m for m in sys.modules if m.startswith('mmpose_stmamba')]:
        del sys.modules[name]
    shell = types.ModuleType('mmpose_stmamba')
    shell.__path__ = [os.path.join(ROOT, 'mmpose_stmamba')]
    shell.__file__ = os.path.join(ROOT, 'mmpose_stmamba', '__init__.py')
    sys.modules['mmpose_stmamba'] = shell
    return reason


def main(argv):
    import pytest
    reason = enter_package_lightly()
    if reason:
        print(f'[run_gpu_tests] full package import failed ({reason}); '
              'running with the package shell')
    args = argv or [
        os.path.join(ROOT, 'tests', 'test_ops'),
        os.path.join(ROOT, 'tests', 'test_models'), '-ra', '-q',
        '-k', 'not interpreter', '--continue-on-collection-errors',
        '-p', 'no:cacheprovider'
    ]
    return pytest.main(args)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
