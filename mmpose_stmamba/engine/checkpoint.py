"""Safe loading of MMEngine runner checkpoints on torch >= 2.6.

References:
    torch >= 2.6 makes ``torch.load`` default to ``weights_only=True``: a
    restricted unpickler that only rebuilds tensors, containers and the
    globals a program allow-lists with
    ``torch.serialization.add_safe_globals``.  MMEngine 0.10.7 calls
    ``torch.load`` without ``weights_only`` (for ``load_from``, ``--resume``
    and ``tools/test.py --checkpoint``), and a checkpoint written by its
    ``Runner`` holds more than weights: numpy arrays and scalars (dataset
    meta, best scores), the ``MessageHub`` with its ``HistoryBuffer`` logs,
    and the statistics functions of those buffers, which pickle records as
    ``getattr(HistoryBuffer, 'mean')``.

    We allow-list exactly those globals, found by training a small MMPose
    model with a Runner and loading its checkpoints with
    ``weights_only=True`` until nothing was refused (see
    ``tests/test_engine/test_checkpoint.py``).  The one dangerous name,
    ``builtins.getattr``, is *not* the real ``getattr``: it is bound to
    :func:`_history_buffer_method`, which only resolves the statistics
    methods of ``HistoryBuffer`` and refuses anything else, so a checkpoint
    cannot use it to reach module globals.  numpy dtypes are limited to the
    plain numeric ones, so object arrays (which would carry arbitrary
    objects) stay refused.

    We never set ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``: that switches the
    protection off for every load in the process.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: Names under which :func:`_history_buffer_method` may resolve attributes
#: of ``HistoryBuffer``: the statistics it registers by default.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')

# Plain numeric numpy dtypes.  Since numpy 1.25 each dtype instance has its
# own class (e.g. ``numpy.dtypes.Float64DType``) and pickle rebuilds the
# instance, then sets its state, which the restricted unpickler allows only
# for allow-listed types.  ``object``, ``void`` (structured) and string
# dtypes are left out on purpose.
_NUMERIC_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64,
                   np.uint8, np.uint16, np.uint32, np.uint64, np.float16,
                   np.float32, np.float64, np.complex64, np.complex128)


def _history_buffer_method(obj, name):
    """Stand-in for ``builtins.getattr`` inside a weights-only load.

    Pickle stores a function that lives in a class by the call
    ``getattr(cls, name)``; MMEngine's ``HistoryBuffer.__getstate__`` saves
    its statistics functions that way.  This resolves those and nothing
    else.

    Args:
        obj (object): The object pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.

    Raises:
        pickle.UnpicklingError: For any other object or name.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}) in a weights-only checkpoint '
        'load: only the statistics methods of mmengine HistoryBuffer '
        f'{HISTORY_BUFFER_METHODS} are allowed (mmpose_stmamba.engine.'
        'checkpoint)')


def _numpy_core_paths(func):
    """Both module paths of a numpy core function (numpy 2 and numpy 1).

    A checkpoint written with numpy 1.x names ``numpy.core.multiarray``;
    numpy 2.x names ``numpy._core.multiarray``.  Both resolve to ``func``.
    """
    name = func.__name__
    return [(func, f'numpy._core.multiarray.{name}'),
            (func, f'numpy.core.multiarray.{name}')]


def checkpoint_safe_globals():
    """The globals a runner checkpoint needs, as ``add_safe_globals`` takes.

    Returns:
        list: Callables and ``(callable, pickled path)`` pairs:

        * ``numpy.ndarray``, ``numpy.dtype`` and the numeric dtype classes,
          ``numpy._core.multiarray._reconstruct`` / ``scalar`` (and their
          numpy 1.x paths): numpy arrays and scalars from raw bytes.
        * ``mmengine.logging.HistoryBuffer``: the message hub's log buffers
          (plain attributes: arrays and numbers).
        * ``builtins.getattr`` bound to :func:`_history_buffer_method`.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') \
        else np.core.multiarray
    entries = [np.ndarray, np.dtype, HistoryBuffer,
               (_history_buffer_method, 'builtins.getattr')]
    entries += [type(np.dtype(t)) for t in _NUMERIC_DTYPES]
    entries += _numpy_core_paths(multiarray._reconstruct)
    entries += _numpy_core_paths(multiarray.scalar)
    return entries


def register_checkpoint_safe_globals():
    """Allow-list :func:`checkpoint_safe_globals` for ``torch.load``.

    Called when :mod:`mmpose_stmamba` is imported (a config's
    ``custom_imports`` does that before ``tools/train.py --resume`` or
    ``tools/test.py --checkpoint`` load anything).  Idempotent.  On a torch
    without ``add_safe_globals`` (< 2.4) ``torch.load`` is not restricted by
    default and nothing needs doing.

    Returns:
        bool: Whether the globals were registered.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    add(checkpoint_safe_globals())
    return True
