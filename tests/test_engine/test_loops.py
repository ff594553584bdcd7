"""A run killed mid-epoch resumes on the same schedule.

References: tests for :mod:`mmpose_stmamba.engine.loops`.  The killed and
resumed pair must end with the same iteration count, the same learning-rate
sequence and the same weights as one uninterrupted run (the tiny config has
no random augmentation and a seeded sampler).
"""
import os.path as osp

import pytest
import torch
from mmengine.runner import EpochBasedTrainLoop, Runner


def _state(path):
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.fixture(scope='module')
def reference(tmp_path_factory, tiny_config, hooks):
    """One uninterrupted run: 2 epochs x 7 iterations; (work_dir, lrs)."""
    work = tmp_path_factory.mktemp('ref') / 'work'
    runner = Runner.from_cfg(tiny_config(work, ckpt_interval=7))
    recorder = hooks[2]()
    runner.register_hook(recorder)
    runner.train()
    return work, recorder.lrs


def test_resume_mid_epoch_continues_the_schedule(tmp_path, tiny_config,
                                                 hooks, reference):
    KillAtIter, StopTraining, LrRecorder = hooks
    work = tmp_path / 'work'
    cfg = tiny_config(work, ckpt_interval=3)
    runner = Runner.from_cfg(cfg)
    killed_lrs = LrRecorder()
    runner.register_hook(killed_lrs)
    runner.register_hook(KillAtIter(10))
    with pytest.raises(StopTraining):
        runner.train()
    # killed in epoch 2 after iteration 10; the last save is iteration 9
    assert osp.exists(work / 'iter_9.pth')
    assert not osp.exists(work / 'iter_12.pth')

    cfg = tiny_config(work, ckpt_interval=3)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed_lrs = LrRecorder()
    resumed.register_hook(resumed_lrs)
    resumed.train()
    assert resumed.iter == 14 and resumed.epoch == 2
    assert osp.exists(work / 'iter_14.pth')

    ref_work, ref_lr = reference
    assert sorted(ref_lr) == list(range(1, 15))
    assert sorted(killed_lrs.lrs) == list(range(1, 11))
    # iteration 10 ran after the last save (9): it runs again, nothing else
    assert sorted(resumed_lrs.lrs) == list(range(10, 15))
    got_lr = {**killed_lrs.lrs, **resumed_lrs.lrs}
    for it in ref_lr:
        assert got_lr[it] == pytest.approx(ref_lr[it], rel=1e-6), it
    ref_state = _state(ref_work / 'iter_14.pth')
    got_state = _state(work / 'iter_14.pth')
    for k, v in ref_state.items():
        torch.testing.assert_close(got_state[k], v, msg=k)


def test_stock_loop_would_repeat_the_interrupted_epoch(tmp_path,
                                                       tiny_config, hooks):
    """Documents why the loop exists: MMEngine's own loop overshoots."""
    KillAtIter, StopTraining, _ = hooks
    work = tmp_path / 'work'
    cfg = tiny_config(work, ckpt_interval=3)
    cfg.train_cfg = dict(type=EpochBasedTrainLoop.__name__, max_epochs=2,
                         val_interval=100)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(KillAtIter(10))
    with pytest.raises(StopTraining):
        runner.train()
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 9 + 7  # the 2 batches after iter 7 run twice
