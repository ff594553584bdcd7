"""`make demo`: the main job on the bundled sample clips.

At this stage of the project it checks the installed stack and lists the
modules the plugin registers; the end-to-end train/test/render job replaces
it once the model, data and metric parts exist.
"""
import mmpose.registry as registries

import mmpose_stmamba


def main():
    print(f'mmpose_stmamba {mmpose_stmamba.__version__}')
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS'):
        registry = getattr(registries, name)
        ours = sorted(k for k, v in registry.module_dict.items()
                      if v.__module__.startswith('mmpose_stmamba'))
        print(f'{name}: {", ".join(ours) or "-"}')


if __name__ == '__main__':
    main()
