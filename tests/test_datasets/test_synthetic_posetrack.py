"""tools/make_synthetic_posetrack.py: layout, determinism, loadability.

References: the PoseTrack18 layout of docs/data.md and PoseWarper's
``val_boxes.json`` fields; the generator itself is ours.
"""
import filecmp
import os

import numpy as np
import pytest
from clip_data_helpers import read_json
from mmpose.registry import DATASETS
from tool_loader import load_tool

ARGS = ['--videos', '2', '--frames', '6', '--people', '3', '--size', '128x96']


@pytest.fixture(scope='module')
def tool():
    return load_tool('make_synthetic_posetrack.py')


@pytest.fixture(scope='module')
def synth(tool, tmp_path_factory):
    root = tmp_path_factory.mktemp('synth')
    summary = tool.main(
        ['--out',
         str(root), '--seed', '0', '--splits', 'train', 'val'] + ARGS)
    return root, summary


def test_layout(synth):
    root, summary = synth
    assert [s['split'] for s in summary] == ['train', 'val']
    for split in ('train', 'val'):
        videos = sorted(os.listdir(root / 'images' / split))
        assert len(videos) == 2
        for v in videos:
            assert sorted(os.listdir(root / 'images' / split /
                                     v)) == [f'{i:06d}.jpg' for i in range(6)]
            per_video = read_json(root / 'annotations' / split / f'{v}.json')
            assert len(per_video['images']) == 6
        merged = read_json(root / 'annotations' / f'posetrack18_{split}.json')
        assert len(merged['images']) == 12
        boxes = read_json(root / 'annotations' / f'{split}_boxes.json')
        assert boxes and set(boxes[0]) == {
            'image_name', 'bbox', 'score', 'nframes', 'frame_id'
        }
    ann = merged['annotations'][0]
    assert len(ann['keypoints']) == 51 and len(ann['occluded']) == 17
    img = merged['images'][0]
    assert img['nframes'] == 6 and img['width'] == 128


def test_annotation_semantics(synth):
    root, summary = synth
    merged = read_json(root / 'annotations' / 'posetrack18_val.json')
    n_occ = 0
    for ann in merged['annotations']:
        k = np.array(ann['keypoints'], float).reshape(17, 3)
        occ = np.array(ann['occluded'], bool)
        assert (k[[3, 4], 2] == 0).all()  # ears unlabelled
        assert (k[occ, 2] == 1).all()  # occluded joints keep a position
        assert (k[k[:, 2] == 0, :2] == 0).all()
        inside = (k[:, 0] >= 0) & (k[:, 0] < 128) & (k[:, 1] >= 0) & (
            k[:, 1] < 96)
        assert inside[k[:, 2] == 1].all()
        n_occ += occ.sum()
    assert n_occ == summary[1]['occluded_keypoints'] > 0


def test_deterministic_per_seed(tool, synth, tmp_path):
    root, _ = synth
    tool.main([
        '--out',
        str(tmp_path / 'a'), '--seed', '0', '--splits', 'train', 'val'
    ] + ARGS)
    cmp = filecmp.dircmp(root, tmp_path / 'a')
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    for sub in ('annotations/val', 'images/val/100001_synthetic'):
        names = os.listdir(root / sub)
        _, mismatch, errors = filecmp.cmpfiles(
            root / sub, tmp_path / 'a' / sub, names, shallow=False)
        assert not mismatch and not errors
    tool.main(['--out', str(tmp_path / 'b'), '--seed', '1'] + ARGS)
    assert not filecmp.cmp(
        root / 'annotations' / 'val_boxes.json',
        tmp_path / 'b' / 'annotations' / 'val_boxes.json',
        shallow=False)


def test_label_stride(tool, tmp_path):
    tool.main(
        ['--out', str(tmp_path), '--seed', '3', '--label-stride', '2'] + ARGS)
    merged = read_json(tmp_path / 'annotations' / 'posetrack18_val.json')
    labeled = {im['id'] for im in merged['images'] if im['is_labeled']}
    assert len(labeled) == 6
    assert {a['image_id'] for a in merged['annotations']} <= labeled


def test_bad_arguments(tool, tmp_path):
    for bad in (['--size', '10x10'], ['--frames', '0']):
        with pytest.raises(SystemExit):
            tool.main(['--out',
                       str(tmp_path), '--seed', '0', '--videos', '1'] + bad)


def test_loads_as_posetrack_clips(synth):
    root, summary = synth
    pipeline = [
        dict(type='LoadClipFrames'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=(96, 128)),
        dict(type='PackClipInputs')
    ]
    gt = DATASETS.build(
        dict(
            type='PoseTrackClipDataset',
            data_root=str(root),
            ann_file='annotations/posetrack18_val.json',
            pipeline=pipeline))
    assert len(gt) + sum(gt.skips.counts.values()) == summary[1]['persons']
    assert 'keypoints_occluded' in gt.get_data_info(0)
    out = gt[len(gt) // 2]
    assert tuple(out['inputs'].shape) == (5, 3, 128, 96)
    assert out['data_samples'].metainfo['missing_frames'] == []
    det = DATASETS.build(
        dict(
            type='PoseTrackClipDataset',
            data_root=str(root),
            ann_file='annotations/val',
            test_mode=True,
            bbox_file=str(root / 'annotations' / 'val_boxes.json')))
    n_dets = summary[1]['detections']
    assert len(det) + sum(det.skips.counts.values()) == n_dets
    assert det.skips.counts['unknown_image'] == 0
