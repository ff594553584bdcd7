"""``tools/publish_model.py``: strip, hash suffix, reload.

References: tests for :mod:`mmpose_stmamba.engine.publish` and its CLI.
"""
import hashlib
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner
from tool_loader import load_tool

from mmpose_stmamba.engine.publish import (TRAINING_STATE_KEYS, published_name,
                                           strip_checkpoint)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory, tiny_config):
    work = tmp_path_factory.mktemp('pub') / 'work'
    cfg = tiny_config(work, max_epochs=1, batch_size=7, ckpt_interval=1,
                      ckpt_by_epoch=True)
    Runner.from_cfg(cfg).train()
    return str(work / 'epoch_1.pth')


def test_publish_cli(runner_checkpoint, tmp_path):
    out = tmp_path / 'zoo' / 'tiny_model.pth'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'publish_model.py'),
         runner_checkpoint, str(out)],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    final = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r'.*/tiny_model-([0-9a-f]{8})\.pth', final)
    assert m, final
    with open(final, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == m.group(1)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        osp.basename(final)]  # no temporary file left behind

    original = torch.load(runner_checkpoint, map_location='cpu')
    published = torch.load(final, map_location='cpu', weights_only=True)
    assert set(published) == {'meta', 'state_dict'}
    assert not set(TRAINING_STATE_KEYS) & set(published)
    assert published['state_dict'].keys() == original['state_dict'].keys()
    for k, v in original['state_dict'].items():
        assert torch.equal(published['state_dict'][k], v), k
    meta = published['meta']
    assert meta['epoch'] == 1 and meta['iter'] == 2
    assert meta['dataset_meta']['dataset_name'] == 'posetrack18'
    assert 'TopdownPoseEstimator' in meta['cfg']
    assert meta['published_from'] == 'epoch_1.pth'
    assert osp.getsize(final) < 0.5 * osp.getsize(runner_checkpoint)


def test_publish_refuses_non_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='state_dict'):
        strip_checkpoint({'weights': {}})
    bad = tmp_path / 'bad.pth'
    torch.save({'weights': {}}, bad)
    cli = load_tool('publish_model.py')
    with pytest.raises(ValueError, match='state_dict'):
        cli.main([str(bad), str(tmp_path / 'x.pth')])
    with pytest.raises(ValueError, match='.pth'):
        cli.main([str(bad), str(tmp_path / 'x.bin')])
    with pytest.raises(SystemExit, match='no such file'):
        cli.main([str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth')])
    assert not list(tmp_path.glob('x*'))


def test_published_name():
    sha = 'ab12cd34' + '0' * 56
    assert published_name('a/b.pth', sha) == 'a/b-ab12cd34.pth'
    assert published_name('b.pth', sha, '20261125') == \
        'b-ab12cd34_20261125.pth'
