"""The package imports, registers its modules, and configs load with it."""
import importlib
import inspect

from mmengine.config import Config

import mmpose_stmamba


def _exported_classes(subpackage):
    module = importlib.import_module(f'mmpose_stmamba.{subpackage}')
    for name in getattr(module, '__all__', []):
        obj = getattr(module, name)
        if inspect.isclass(obj):
            yield name, obj


def test_version():
    assert isinstance(mmpose_stmamba.__version__, str)


def test_import_does_not_pull_optional_backends():
    import sys
    assert 'mamba_ssm' not in sys.modules


def test_every_exported_class_is_registered_somewhere():
    import mmpose.registry as registries
    names = ['MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS',
             'KEYPOINT_CODECS', 'LOOPS']
    for subpackage in ('models', 'datasets', 'evaluation', 'engine'):
        for name, cls in _exported_classes(subpackage):
            if issubclass(cls, Exception):
                continue
            found = [r for r in names
                     if getattr(registries, r).get(name) is cls]
            assert found, f'{subpackage}.{name} is exported but registered ' \
                'in none of MMPose\'s registries'


def test_custom_imports_config_loads(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "_base_ = ['mmpose::_base_/default_runtime.py']\n"
        "custom_imports = dict(imports=['mmpose_stmamba'], "
        "allow_failed_imports=False)\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.default_scope == 'mmpose'
    assert cfg.custom_imports['imports'] == ['mmpose_stmamba']
