"""End to end on the bundled sample clips, through the real entry points.

References: runs what ``make demo`` runs (``tools/run_demo.py``: ``mim
train`` -> ``mim test`` -> ``tools/publish_model.py`` -> ``mim test`` with
the published checkpoint -> ``tools/demo_video.py``) with a one-epoch
schedule, and a ``mim train`` killed mid-epoch then resumed with
``--resume``.  Each step is a subprocess, as a user runs it.  Slow by
nature (several interpreter starts): about 2-4 minutes on 2 busy cores.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import pytest
import torch

import mmpose_stmamba.engine  # noqa: F401  (checkpoint allow-list)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    'configs', 'demo', 'glsmamba-demo_resnet18_posetrack18-samples-128x96.py')
MIM = osp.join(osp.dirname(sys.executable), 'mim')

pytestmark = pytest.mark.slow

_KILLER = '''
"""Test helper: a hook that kills the process after $E2E_KILL_AFTER iters."""
import os

from mmengine.hooks import Hook

from mmpose.registry import HOOKS


@HOOKS.register_module()
class KillAfterIter(Hook):
    priority = 'LOWEST'  # after CheckpointHook saved this iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        n = os.environ.get('E2E_KILL_AFTER')
        if n and runner.iter + 1 == int(n):
            os._exit(137)  # like SIGKILL: no cleanup, no final checkpoint
'''

# The demo config, 14 persons at batch 7: 2 iterations per epoch, 2
# epochs, a checkpoint every iteration, and the killer hook.
_CONFIG = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['mmpose_stmamba', 'e2e_killer'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='MissingFrameReportHook'),
                dict(type='KillAfterIter')]
train_dataloader = dict(batch_size=7)
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [  # lists replace, not merge: both entries in full
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=2,
         eta_min=3e-5)]
default_hooks = dict(
    checkpoint=dict(interval=1, by_epoch=False, max_keep_ckpts=10),
    logger=dict(interval=1))
'''


def _env(extra_path=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    paths = [REPO] + ([extra_path] if extra_path else [])
    env['PYTHONPATH'] = os.pathsep.join(paths + [env.get('PYTHONPATH', '')])
    return env


def test_make_demo_short(tmp_path):
    out = tmp_path / 'demo_out'
    proc = subprocess.run(
        [sys.executable, osp.join('tools', 'run_demo.py'), '--max-epochs',
         '1', '--min-ap', '0', '--out', str(out)],
        cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = json.loads((out / 'metrics.json').read_text())
    metrics = summary['metrics_trained']
    assert 0 <= metrics['posetrack/AP'] <= 100
    assert summary['metrics_published'] == metrics
    # the runner checkpoint and the published one
    ckpt = osp.join(REPO, summary['checkpoint'])
    assert osp.basename(ckpt) == 'epoch_1.pth'
    published = osp.join(REPO, summary['published_checkpoint'])
    assert re.fullmatch(r'.*-[0-9a-f]{8}\.pth', published)
    assert set(torch.load(published, map_location='cpu')) == {
        'meta', 'state_dict'}
    # the mim test log reports the metric the summary quotes
    log = (out / 'test_published.log').read_text()
    assert f'posetrack/AP: {metrics["posetrack/AP"]:.6f}' in log
    # the video: 5 frames of 1280x720 with poses for the 3 boxed persons
    cap = cv2.VideoCapture(osp.join(REPO, summary['video']))
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (720, 1280, 3)
        frames += 1
    assert frames == 5
    preds = json.loads((out / 'demo_video_predictions.json').read_text())
    assert len(preds['predictions']) == 15
    assert preds['frame_offsets'] == [-2, -1, 0, 1, 2]
    # it prints where the metrics and the video are
    printed = {}
    for line in proc.stdout.splitlines():
        if line.startswith('[demo] ') and ':' in line:
            key, value = line[len('[demo] '):].split(':', 1)
            printed[key] = value.strip()
    for key, path in (('metrics', out / 'metrics.json'),
                      ('video', out / 'demo_video.mp4')):
        assert osp.samefile(osp.join(REPO, printed[key]), path), key


def test_run_demo_fails_when_a_step_fails(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join('tools', 'run_demo.py'), '--max-epochs',
         '1', '--out', str(tmp_path / 'o'), '--config',
         osp.join('configs', 'demo', 'no_such_config.py')],
        cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'no such config' in proc.stderr


def test_mim_train_killed_mid_epoch_resumes(tmp_path):
    (tmp_path / 'e2e_killer.py').write_text(_KILLER)
    config = tmp_path / 'killable_demo.py'
    config.write_text(_CONFIG.format(base=osp.join(REPO, CONFIG)))
    work = tmp_path / 'work'
    env = _env(str(tmp_path))
    # killed after iteration 3 = epoch 2, batch 1 of 2
    killed = subprocess.run(
        [MIM, 'train', 'mmpose', str(config), '--work-dir', str(work)],
        cwd=REPO, env=dict(env, E2E_KILL_AFTER='3'), capture_output=True,
        text=True)
    assert killed.returncode != 0
    assert (work / 'iter_3.pth').exists(), killed.stdout[-3000:]
    assert not (work / 'iter_4.pth').exists()

    resumed = subprocess.run(
        [MIM, 'train', 'mmpose', str(config), '--work-dir', str(work),
         '--resume'],
        cwd=REPO, env=env, capture_output=True, text=True)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert 'resumed epoch: 1, iter: 3' in out
    assert 'Resuming epoch 2 after batch 1 of 2 (iteration 3)' in out
    trained = re.findall(r'Epoch\(train\)\s+\[(\d+)\]\[(\d+)/2\]', out)
    assert trained == [('2', '2')]  # exactly the one missing iteration
    final = torch.load(work / 'iter_4.pth', map_location='cpu')
    assert final['meta']['iter'] == 4  # the schedule's 2 x 2 iterations
    assert 'posetrack/AP' in out  # validation after the last epoch
