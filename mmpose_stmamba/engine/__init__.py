"""Runner-side helpers: safe checkpoint loading on torch >= 2.6.

References:
    Importing this package (which ``import mmpose_stmamba`` does, hence every
    config's ``custom_imports``) allow-lists the globals that MMEngine runner
    checkpoints need for ``torch.load(weights_only=True)``; see
    :mod:`mmpose_stmamba.engine.checkpoint` for the list and why each entry
    is safe.  It also registers :class:`ResumableEpochBasedTrainLoop` (in
    MMPose's ``LOOPS``), which resumes a run killed mid-epoch on its
    original schedule.
"""
from .checkpoint import (checkpoint_safe_globals,
                         register_checkpoint_safe_globals)
from .loops import ResumableEpochBasedTrainLoop

register_checkpoint_safe_globals()

__all__ = [
    'ResumableEpochBasedTrainLoop', 'checkpoint_safe_globals',
    'register_checkpoint_safe_globals'
]
