# MMPose's runtime (hooks, logging, visualiser, default_scope='mmpose')
# plus the plugin import every GLSMamba config needs.
_base_ = ['mmpose::_base_/default_runtime.py']

default_scope = 'mmpose'
custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)

# MMPose's visualiser with its default OpenCV backend fails under numpy 2
# (int() of a 1-element array in draw_circles); matplotlib draws the same.
visualizer = dict(
    type='PoseLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer',
    backend='matplotlib')
randomness = dict(seed=0)
