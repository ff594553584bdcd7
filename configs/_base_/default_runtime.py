# MMPose's runtime (hooks, logging, visualiser, default_scope='mmpose')
# plus the plugin import every GLSMamba config needs.
_base_ = ['mmpose::_base_/default_runtime.py']

default_scope = 'mmpose'
custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)
