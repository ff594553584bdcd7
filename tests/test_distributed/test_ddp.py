"""Distributed training and evaluation on CPU with the gloo backend.

Two processes stand in for two GPUs: the gathered test predictions must
equal a single-process run (nothing lost or duplicated when the sampler
pads an odd data set), and in DDP training the trainable parameters stay
identical across ranks while the frozen encoder does not move.
"""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
WORKER = osp.join(HERE, 'ddp_worker.py')
sys.path.insert(0, HERE)
from ddp_worker import DEMO_CFG  # noqa: E402


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _launch(mode, out_dir, ckpt, world_size):
    os.makedirs(out_dir, exist_ok=True)
    port = str(_free_port())
    procs = []
    for rank in range(world_size):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank),
                   WORLD_SIZE=str(world_size), MASTER_ADDR='127.0.0.1',
                   MASTER_PORT=port, OMP_NUM_THREADS='1')
        log = open(osp.join(out_dir, f'rank{rank}.log'), 'w')
        procs.append((subprocess.Popen(
            [sys.executable, WORKER, mode, out_dir, ckpt], env=env,
            stdout=log, stderr=subprocess.STDOUT), log))
    for rank, (proc, log) in enumerate(procs):
        rc = proc.wait(timeout=600)
        log.close()
        if rc != 0:
            with open(osp.join(out_dir, f'rank{rank}.log')) as f:
                tail = f.read()[-3000:]
            pytest.fail(f'{mode} rank {rank} exited {rc}:\n{tail}')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmengine.registry import init_default_scope

    import mmpose_stmamba  # noqa: F401  (registers the plugin)
    init_default_scope('mmpose')
    torch.manual_seed(0)
    cfg = Config.fromfile(DEMO_CFG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'init.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def _predictions(out_dir):
    """All predicted people of all written video files, sorted."""
    people = []
    for path in sorted(glob.glob(osp.join(out_dir, 'pred', '*.json'))):
        with open(path) as f:
            for ann in json.load(f)['annotations']:
                people.append((ann['image_id'],
                               [round(v, 3) for v in ann['keypoints']]))
    return sorted(people)


def test_gathered_predictions_equal_single_process(checkpoint, tmp_path):
    single, double = str(tmp_path / 'single'), str(tmp_path / 'double')
    _launch('test', single, checkpoint, world_size=1)
    _launch('test', double, checkpoint, world_size=2)
    ref, got = _predictions(single), _predictions(double)
    assert len(ref) == 13  # the 13 instances of the (odd) test subset
    assert got == ref
    with open(osp.join(single, 'metrics.json')) as f:
        ref_metrics = json.load(f)
    with open(osp.join(double, 'metrics.json')) as f:
        got_metrics = json.load(f)
    assert ref_metrics.keys() == got_metrics.keys()
    for key, value in ref_metrics.items():
        assert got_metrics[key] == pytest.approx(value, abs=1e-6,
                                                 nan_ok=True), key


def test_ddp_training_syncs_trainable_and_keeps_frozen(checkpoint,
                                                       tmp_path):
    out = str(tmp_path / 'train')
    _launch('train', out, checkpoint, world_size=2)
    init = torch.load(checkpoint)['state_dict']
    rank0 = torch.load(osp.join(out, 'params_rank0.pth'))
    rank1 = torch.load(osp.join(out, 'params_rank1.pth'))
    moved = []
    # BN statistics are buffers, not gradients: DDP does not average them
    # (MMEngine wraps with broadcast_buffers=False; the configs'
    # SyncBuffersHook syncs them at epoch ends), so only parameters must
    # agree across ranks.
    buffers = ('running_mean', 'running_var', 'num_batches_tracked')
    for key, value in rank0.items():
        if not key.endswith(buffers):
            torch.testing.assert_close(rank1[key], value, msg=key)
        if key.startswith('backbone.'):
            torch.testing.assert_close(value, init[key], msg=key)
        elif not torch.equal(value, init[key]):
            moved.append(key)
    assert any(k.startswith('neck.') for k in moved)
    assert any(k.startswith('head.') for k in moved)
