"""MissingFrameReportHook: one report per epoch of substituted frames.

References: our design (see mmpose_stmamba/datasets/missing_frame_hook.py).
"""
import logging
from unittest import mock

import pytest
from mmpose.registry import HOOKS
from mmpose.structures import PoseDataSample

import mmpose_stmamba  # noqa: F401  (registers the hook)


def batch(*missing_lists):
    samples = []
    for missing in missing_lists:
        s = PoseDataSample()
        s.set_metainfo(dict(missing_frames=list(missing)))
        samples.append(s)
    return dict(inputs=[], data_samples=samples)


def test_counts_and_reports_once_per_epoch():
    hook = HOOKS.build(dict(type='MissingFrameReportHook', num_examples=2))
    runner = mock.MagicMock(epoch=0)
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch(['a.jpg', 'b.jpg'], []))
    hook.after_train_iter(runner, 1, batch(['c.jpg']))
    runner.logger.log.assert_not_called()
    hook.after_train_epoch(runner)
    runner.logger.log.assert_called_once()
    level, msg = runner.logger.log.call_args.args
    assert level == logging.WARNING
    assert 'train epoch 1: 3 supporting frames' in msg
    assert 'in 2 of 3 samples' in msg and 'a.jpg, b.jpg' in msg
    assert 'c.jpg' not in msg
    # the next epoch starts from zero
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch([]))
    hook.after_train_epoch(runner)
    assert runner.logger.log.call_count == 1
    assert 'no missing supporting frames in 1 samples' in \
        runner.logger.info.call_args.args[0]


def test_validation_inside_an_epoch_keeps_the_train_count():
    hook = HOOKS.build(dict(type='MissingFrameReportHook'))
    runner = mock.MagicMock(epoch=4)
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch(['a.jpg']))
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0, batch(['v1.jpg', 'v2.jpg']))
    hook.after_val_epoch(runner)
    assert 'val: 2 supporting frames' in runner.logger.log.call_args.args[1]
    hook.after_train_iter(runner, 1, batch([]))
    hook.after_train_epoch(runner)
    assert 'train epoch 5: 1 supporting frames' in \
        runner.logger.log.call_args.args[1]


def test_interval_reports_for_iteration_based_loops():
    hook = HOOKS.build(dict(type='MissingFrameReportHook', interval=2))
    runner = mock.MagicMock(epoch=0, iter=0)
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch(['a.jpg']))
    runner.logger.log.assert_not_called()
    runner.iter = 1
    hook.after_train_iter(runner, 1, batch(['b.jpg']))
    assert 'train iter 2: 2 supporting frames' in \
        runner.logger.log.call_args.args[1]
    with pytest.raises(ValueError, match='interval'):
        HOOKS.build(dict(type='MissingFrameReportHook', interval=0))
