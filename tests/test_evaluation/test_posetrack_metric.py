"""PoseTrackMAP: process() / compute_metrics() with fake data samples.

References: MMPose's own PoseTrack18Metric test oracle (GT fed back as
predictions gives 100.0), on the same sample files.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmpose.registry import METRICS

from mmpose_stmamba.evaluation import PoseTrackMAP
from .conftest import K17, body, person17, video


def gt_samples(ann_file, score_from_visibility=True):
    """One data-sample dict per GT person of a merged COCO-style file."""
    with open(ann_file) as f:
        coco = json.load(f)
    samples = []
    for ann in coco['annotations']:
        kpt = np.asarray(ann['keypoints'], float).reshape(-1, 3)
        samples.append(
            dict(
                id=ann['id'],
                img_id=ann['image_id'],
                img_path=f'{ann["image_id"]}.jpg',
                pred_instances=dict(
                    keypoints=kpt[None, :, :2],
                    keypoint_scores=(kpt[None, :, 2] > 0).astype(float),
                    bbox_scores=np.ones(1))))
    return samples


def test_registered():
    assert METRICS.get('PoseTrackMAP') is PoseTrackMAP


def test_gt_as_predictions_gives_100(posetrack18_root, tmp_path):
    ann_file = osp.join(posetrack18_root, 'annotations',
                        'test_posetrack18_val.json')
    metric = METRICS.build(
        dict(
            type='PoseTrackMAP',
            ann_file=ann_file,
            outfile_prefix=str(tmp_path / 'pred')))
    # the per-video GT folder is found next to the merged file
    assert metric.gt_dir == osp.join(posetrack18_root, 'annotations', 'val')
    samples = gt_samples(ann_file)
    metric.process([], samples[:5])
    metric.process([], samples[5:] + samples[:2])  # duplicates by id
    res = metric.compute_metrics(metric.results)
    for k in ('Head AP', 'Shoulder AP', 'Elbow AP', 'Wrist AP', 'Hip AP',
              'Knee AP', 'Ankle AP', 'AP', 'Precision', 'Recall'):
        assert res[k] == 100.0, k
    assert np.isnan(res['AccelErr'])  # one labeled frame per video
    files = sorted(os.listdir(tmp_path / 'pred'))
    assert files == sorted(
        os.listdir(osp.join(posetrack18_root, 'annotations', 'val')))


def test_split_merged_file_when_no_gt_dir(posetrack18_root, tmp_path):
    # a merged file whose "<token>" folder does not exist: split by video
    src = osp.join(posetrack18_root, 'annotations',
                   'test_posetrack18_val.json')
    ann_file = tmp_path / 'posetrack18_nofolder.json'
    ann_file.write_text(open(src).read())
    metric = PoseTrackMAP(ann_file=str(ann_file),
                          outfile_prefix=str(tmp_path / 'out'))
    assert metric.gt_dir is None
    metric.process([], gt_samples(src))
    res = metric.compute_metrics(metric.results)
    assert res['AP'] == 100.0
    assert len(os.listdir(tmp_path / 'out')) == 3


def test_json_has_every_frame_and_scores(tmp_path):
    # GT video of 3 frames, a person on frame 1 only; one prediction on
    # frame 1 with box score 0.5 and keypoint scores 0.8 (0.1 on the nose).
    a = body(100, 100)
    gt = video([[], [person17(a)], []])
    gt_dir = tmp_path / 'gt'
    gt_dir.mkdir()
    (gt_dir / '000001_mpii_test.json').write_text(json.dumps(gt))
    img_id = gt['images'][1]['id']
    kpt = np.zeros((17, 2))
    for name, xy in a.items():
        kpt[K17.index(name)] = xy
    scores = np.full(17, 0.8)
    scores[0] = 0.1
    sample = dict(
        id=7,
        img_id=img_id,
        img_path='x.jpg',
        pred_instances=dict(
            keypoints=kpt[None],
            keypoint_scores=scores[None],
            bbox_scores=np.array([0.5])))
    metric = PoseTrackMAP(
        gt_dir=str(gt_dir),
        keypoint_score_thr=0.2,
        outfile_prefix=str(tmp_path / 'pred'))
    metric.process([], [sample])
    res = metric.compute_metrics(metric.results)
    out = json.loads((tmp_path / 'pred' / '000001_mpii_test.json').read_text())
    assert [im['id'] for im in out['images']] == [
        im['id'] for im in gt['images']
    ]
    assert len(out['annotations']) == 1
    ann = out['annotations'][0]
    # box x keypoint score: 0.5 * 0.8 = 0.4; the nose (0.1 < 0.2) is dropped
    assert ann['scores'][5] == pytest.approx(0.4)
    assert ann['keypoints'][:3] == [0.0, 0.0, 0.0]
    # nose not predicted: its AP stays 0, the 14 others are perfect
    assert res['Head AP'] == pytest.approx(200 / 3)
    assert res['AP'] == pytest.approx(1400 / 15)


def test_bad_arguments():
    with pytest.raises(ValueError, match='score_mode'):
        PoseTrackMAP(gt_dir='.', score_mode='mean')
    with pytest.raises(ValueError, match='ann_file or gt_dir'):
        PoseTrackMAP()
    with pytest.raises(ValueError, match='nms_mode'):
        PoseTrackMAP(gt_dir='.', nms_mode='nms')


def test_oks_nms_removes_duplicate(tmp_path):
    # two identical predictions of one person: without NMS the duplicate
    # is a false positive of equal score; with OKS-NMS it is removed.
    a = body(100, 100)
    gt = video([[person17(a)]])
    gt_dir = tmp_path / 'gt'
    gt_dir.mkdir()
    (gt_dir / '000001_mpii_test.json').write_text(json.dumps(gt))
    kpt = np.zeros((17, 2))
    names = K17
    for name, xy in a.items():
        kpt[names.index(name)] = xy
    samples = [
        dict(
            id=i,
            img_id=gt['images'][0]['id'],
            pred_instances=dict(
                keypoints=kpt[None],
                keypoint_scores=np.full((1, 17), 0.9 - 0.1 * i),
                bbox_scores=np.ones(1),
                bboxes=np.array([[90., 90., 800., 150.]]))) for i in range(2)
    ]
    plain = PoseTrackMAP(
        gt_dir=str(gt_dir), outfile_prefix=str(tmp_path / 'a'))
    plain.process([], samples)
    # per joint T(0.9) F(0.8): precision 1, 1/2; recall 1, 1 -> AP 100,
    # precision 50
    res = plain.compute_metrics(plain.results)
    assert res['AP'] == 100.0 and res['Precision'] == pytest.approx(50.0)
    nms = PoseTrackMAP(
        gt_dir=str(gt_dir), nms_mode='oks_nms',
        outfile_prefix=str(tmp_path / 'b'))
    nms.dataset_meta = dict(sigmas=np.full(17, 0.05))
    nms.process([], samples)
    assert nms.compute_metrics(nms.results)['Precision'] == 100.0
