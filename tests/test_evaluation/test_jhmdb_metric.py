"""Sub-JHMDB PCK / tPCK and the three-split average, hand-computed.

References: the PCK@0.2 / tPCK definition of MMPose's JhmdbPCKAccuracy
(box max(w, h); torso = left shoulder to right hip; strict ``<``).
"""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmpose.registry import METRICS

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def sample(gt, pred, box, visible=None):
    gt = np.asarray(gt, float)
    return dict(
        pred_instances=dict(keypoints=np.asarray(pred, float)[None]),
        gt_instances=dict(
            keypoints=gt[None],
            keypoints_visible=(np.ones((1, 15)) if visible is None else
                               np.asarray(visible, float)[None]),
            bboxes=np.asarray(box, float)[None]))


def test_pck_and_tpck_by_hand():
    metric = METRICS.build(dict(type='JhmdbPCKMetric'))
    # Instance 1: box 100 x 50 -> bbox norm 100, threshold 20 px. Left
    # shoulder (4) at (0, 0), right hip (5) at (30, 40): torso 50,
    # threshold 10 px.
    gt1 = np.zeros((15, 2))
    gt1[:, 0] = np.arange(15) * 3.0
    gt1[4] = (0, 0)
    gt1[5] = (30, 40)
    pred1 = gt1.copy()
    pred1[2] += (15, 0)  # head 15 px off: PCK yes (<20), tPCK no (>=10)
    pred1[11] += (0, 25)  # right wrist 25 px off: no for both
    pred1[12] += (5, 0)  # left wrist 5 px: yes for both
    # Instance 2: box 200 x 300 -> norm 300, thr 60; torso 10 -> thr 2.
    # The head is not visible (not counted).
    gt2 = np.zeros((15, 2))
    gt2[4] = (0, 0)
    gt2[5] = (6, 8)
    pred2 = gt2 + (1, 0)  # all 1 px off: correct for both (1 < 2)
    vis2 = np.ones(15)
    vis2[2] = 0
    metric.process([], [
        sample(gt1, pred1, [0, 0, 100, 50]),
        sample(gt2, pred2, [10, 10, 210, 310], vis2)
    ])
    res = metric.compute_metrics(metric.results)
    # PCK: head 1/1 (instance 2 invisible) = 100; wrist: right 1/2, left
    # 2/2 -> 75; everything else 100. 15-joint mean: (14 * 1 + 0.5) / 15.
    assert res['Head PCK'] == 100.0
    assert res['Wri PCK'] == pytest.approx(75.0)
    assert res['Sho PCK'] == 100.0
    assert res['PCK'] == pytest.approx(100 * 14.5 / 15)
    assert res['Mean PCK'] == pytest.approx((6 * 100 + 75) / 7)
    # tPCK: head 0/1 -> 0; wrist 75; the rest 100.
    assert res['Head tPCK'] == 0.0
    assert res['Wri tPCK'] == pytest.approx(75.0)
    assert res['tPCK'] == pytest.approx(100 * 13.5 / 15)


def test_bad_norm_item():
    with pytest.raises(ValueError, match='norm_item'):
        METRICS.build(dict(type='JhmdbPCKMetric', norm_item='head'))


def test_split_average_tool(tmp_path):
    files = []
    for i, v in enumerate([90.0, 93.0, 99.0]):
        p = tmp_path / f'sub{i + 1}.json'
        p.write_text(json.dumps({'jhmdb/PCK': v, 'jhmdb/tPCK': v - 10,
                                 'step': i}))
        files.append(str(p))
    out = tmp_path / 'mean.json'
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'eval_jhmdb_splits.py'), *files, '--out',
        str(out)
    ],
                   check=True,
                   capture_output=True)
    mean = json.loads(out.read_text())
    assert mean['jhmdb/PCK'] == pytest.approx(94.0)
    assert mean['jhmdb/tPCK'] == pytest.approx(84.0)
