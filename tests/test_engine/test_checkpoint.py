"""Runner checkpoints load with ``weights_only=True``; hostile ones do not.

References: tests for :mod:`mmpose_stmamba.engine.checkpoint`.  The loading
paths exercised are MMEngine's (``load_checkpoint`` as ``tools/test.py
--checkpoint`` uses it, ``Runner.resume`` as ``--resume`` does), which call
``torch.load`` without ``weights_only``, i.e. weights-only on torch >= 2.6.
"""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader, Runner

import mmpose_stmamba.engine  # noqa: F401
from mmpose_stmamba.engine.checkpoint import (checkpoint_safe_globals,
                                              register_checkpoint_safe_globals)

pytestmark = pytest.mark.skipif(
    not hasattr(torch.serialization, 'add_safe_globals'),
    reason='torch < 2.4 has no weights-only allow-list')


class _Evil:
    """Pickles as a call to ``os.system``: must never run on load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory, tiny_config):
    """A checkpoint written by a real Runner after 2 epochs (by epoch)."""
    work = tmp_path_factory.mktemp('ckpt') / 'work'
    cfg = tiny_config(work, max_epochs=2, batch_size=7, ckpt_interval=1,
                      ckpt_by_epoch=True)
    Runner.from_cfg(cfg).train()
    return str(work / 'epoch_2.pth')


def test_runner_checkpoint_needs_exactly_the_allow_list(runner_checkpoint):
    # what torch itself allows is left out of the answer; ours is cleared
    torch.serialization.clear_safe_globals()
    try:
        unsafe = set(
            torch.serialization.get_unsafe_globals_in_checkpoint(
                runner_checkpoint))
    finally:
        register_checkpoint_safe_globals()
    assert not torch.serialization.get_unsafe_globals_in_checkpoint(
        runner_checkpoint)
    # what torch refuses by default is a subset of what we allow ...
    allowed = set()
    for entry in checkpoint_safe_globals():
        if isinstance(entry, tuple):
            allowed.add(entry[1])
        else:
            allowed.add(f'{entry.__module__}.{entry.__qualname__}')
    assert unsafe <= allowed, unsafe - allowed
    # ... and each of these is really needed by this checkpoint
    for name in ('numpy.ndarray', 'numpy.dtype', 'builtins.getattr',
                 'mmengine.logging.history_buffer.HistoryBuffer'):
        assert name in unsafe


def test_runner_checkpoint_loads_weights_only(runner_checkpoint):
    ckpt = torch.load(runner_checkpoint, map_location='cpu',
                      weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer',
            'param_schedulers'} <= set(ckpt)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert np.isfinite(buf.mean())
    assert isinstance(ckpt['meta']['dataset_meta']['sigmas'], np.ndarray)
    # what tools/test.py --checkpoint does (mmengine.runner.load_checkpoint)
    loaded = CheckpointLoader.load_checkpoint(runner_checkpoint, 'cpu')
    assert loaded['meta']['epoch'] == 2


def test_without_allow_list_the_checkpoint_is_refused(runner_checkpoint):
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='numpy'):
            torch.load(runner_checkpoint, map_location='cpu')
    finally:
        register_checkpoint_safe_globals()
    torch.load(runner_checkpoint, map_location='cpu')


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': _Evil(marker)}}, path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(path, map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path), 'cpu')
    assert not marker.exists()


def test_getattr_only_reaches_history_buffer_statistics(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'m': HistoryBuffer.mean}, good)
    assert torch.load(good)['m'] is HistoryBuffer.mean
    # protocol-2 pickle writes these as getattr(HistoryBuffer, name)
    for name in ('__init__', 'update', '__setstate__'):
        bad = tmp_path / f'bad_{name}.pth'
        torch.save({'m': getattr(HistoryBuffer, name)}, bad)
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            torch.load(bad)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'a': np.array([{'k': 1}, None], dtype=object)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    path = tmp_path / 'numbers.pth'
    arrays = {str(t): np.arange(3).astype(t)
              for t in (np.uint8, np.int64, np.float32, np.float64, bool)}
    arrays['scalar'] = np.float64(0.5)
    torch.save(arrays, path)
    loaded = torch.load(path)
    for k, v in arrays.items():
        assert np.array_equal(loaded[k], v) and loaded[k].dtype == v.dtype
