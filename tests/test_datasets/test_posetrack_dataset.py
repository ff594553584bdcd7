"""PoseTrackClipDataset on the bundled PoseTrack18 sample and tiny files.

References: expectations from tests/data/README.md (3 images, 14 persons,
278 detections of which 92 score below 0.2) and MMPose's own
``test_posetrack18_video_dataset.py`` (keys and types of a data info).
"""
import os.path as osp

import numpy as np
import pytest
from clip_data_helpers import (PT18, PT18_ANN, PT18_DET, VIDEO, read_json,
                               video_annotation, write_frames, write_json)
from mmpose.registry import DATASETS

from mmpose_stmamba.datasets import PoseTrackClipDataset

REQUIRED_KEYS = {
    'img_id': int,
    'img_path': str,
    'frame_paths': list,
    'frame_offsets': tuple,
    'bbox': np.ndarray,
    'bbox_score': np.ndarray,
    'keypoints': np.ndarray,
    'keypoints_visible': np.ndarray,
    'id': int,
    'vid_id': str,
    'video_name': str,
    'frame_index': int,
    'nframes': int,
    'ignore_regions': list
}


def build(**kwargs):
    cfg = dict(
        type='PoseTrackClipDataset',
        data_root=PT18,
        ann_file='annotations/test_posetrack18_val.json')
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_gt_instances_of_the_sample():
    ds = build()
    assert len(ds) == 14
    ids = [ds[i]['id'] for i in range(len(ds))]
    assert len(set(ids)) == 14
    info = ds[0]
    for key, typ in REQUIRED_KEYS.items():
        assert isinstance(info[key], typ), key
    assert info['bbox'].shape == (1, 4)
    assert info['keypoints'].shape == (1, 17, 2)
    assert info['keypoints_visible'].shape == (1, 17)
    assert info['frame_offsets'] == (-2, -1, 0, 1, 2)
    assert info['dataset_name'] == 'posetrack18'
    assert info['flip_indices'] == [
        0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15
    ]
    # ears are never labelled in PoseTrack18
    for i in range(len(ds)):
        assert not ds[i]['keypoints_visible'][0, 3:5].any()
    # the box with y = -54.6 in the file is clipped into the image
    assert all(ds[i]['bbox'][0, 1] >= 0 for i in range(len(ds)))
    assert sum(ds.skips.counts.values()) == 0


def test_clip_of_an_annotated_frame_is_clamped_at_the_video_start():
    info = build()[0]
    folder = osp.dirname(info['img_path'])
    assert info['frame_index'] == 0
    assert info['frame_indices'] == [0, 0, 0, 1, 2]
    assert info['frame_paths'] == [
        osp.join(folder, f'{i:06d}.jpg') for i in (0, 0, 0, 1, 2)
    ]
    assert info['frame_paths'][2] == info['img_path']
    assert info['nframes'] in (149, 101, 140)


def test_ignore_regions_are_kept():
    ds = build()
    raw = read_json(PT18_ANN)
    n_regions = {
        img['id']: len(img.get('ignore_regions_x', []))
        for img in raw['images']
    }
    assert any(n_regions.values())
    for i in range(len(ds)):
        info = ds[i]
        regions = info['ignore_regions']
        assert len(regions) == n_regions[info['img_id']]
        assert all(r.ndim == 2 and r.shape[1] == 2 for r in regions)


def test_custom_frame_offsets_and_bad_offsets():
    info = build(frame_offsets=(0, 3))[0]
    assert info['frame_indices'] == [0, 3]
    for bad in [(-1, 1), (0, 0, 1), (0.0, 1)]:
        with pytest.raises(ValueError, match='frame_offsets'):
            build(frame_offsets=bad)


def test_detections_in_mmpose_format():
    ds = build(bbox_file=PT18_DET, test_mode=True)
    assert len(ds) == 278 - 92
    assert ds.skips.counts['low_score'] == 92
    info = ds[0]
    assert info['bbox_score'][0] >= 0.2
    assert not info['keypoints_visible'].any()
    assert len({ds[i]['id'] for i in range(len(ds))}) == len(ds)
    assert len(info['frame_paths']) == 5
    ds0 = build(bbox_file=PT18_DET, test_mode=True, det_score_thr=0.0)
    assert len(ds0) == 278


def test_detections_in_posewarper_val_boxes_format(tmp_path):
    raw = read_json(PT18_ANN)
    names = {img['id']: img['file_name'] for img in raw['images']}
    dets = [
        dict(
            image_name=names[d['image_id']],
            bbox=d['bbox'],
            score=d['score'],
            nframes=150,
            frame_id=d['image_id']) for d in read_json(PT18_DET)
    ]
    path = write_json(tmp_path / 'val_boxes.json', dets)
    ds = build(bbox_file=path, test_mode=True)
    assert len(ds) == 278 - 92
    # nframes comes from the annotations, not from the detection
    assert {ds[i]['nframes'] for i in range(len(ds))} <= {149, 101, 140}


def test_annotation_folder_is_merged():
    ds = build(ann_file='annotations/val')
    assert len(ds) == 14


def test_version_argument():
    assert build(version=17).version == '17'
    with pytest.raises(ValueError, match='version'):
        build(version='19')


def test_boundary_clamping_on_the_real_video(tmp_path):
    ann = write_json(tmp_path / 'ann.json', video_annotation())
    ds = build(ann_file=ann)
    clips = {
        ds[i]['frame_index']: ds[i]['frame_indices']
        for i in range(len(ds))
    }
    assert clips == {
        0: [0, 0, 0, 1, 2],
        1: [0, 0, 1, 2, 3],
        2: [0, 1, 2, 3, 4],
        3: [1, 2, 3, 4, 4],
        4: [2, 3, 4, 4, 4]
    }
    assert ds[4]['frame_paths'][-1] == osp.join(PT18, VIDEO, '000004.jpg')


def _naming_root(tmp_path):
    """PoseTrack17 (8 digits, from 1) and PoseTrack18 (6 digits, from 0)
    videos side by side under one data root, plus a video whose folder has
    only a middle frame on disk."""
    root = tmp_path / 'mixed'
    write_frames(root / 'images' / 'pt17',
                 [f'{i:08d}.jpg' for i in range(1, 7)])
    write_frames(root / 'images' / 'pt18',
                 [f'{i:06d}.jpg' for i in range(0, 6)])
    write_frames(root / 'images' / 'pt17_partial', ['00000004.jpg'])
    images, anns = [], []
    for n, (folder, name) in enumerate([('pt17', '00000001.jpg'),
                                        ('pt17', '00000006.jpg'),
                                        ('pt18', '000000.jpg'),
                                        ('pt18', '000005.jpg'),
                                        ('pt17_partial', '00000004.jpg')]):
        images.append(
            dict(
                id=n + 1,
                file_name=f'images/{folder}/{name}',
                width=64,
                height=48,
                nframes=6))
        anns.append(
            dict(
                id=100 + n,
                image_id=n + 1,
                bbox=[10, 10, 20, 20],
                keypoints=[15, 15, 1] * 17))
    write_json(root / 'ann.json', dict(images=images, annotations=anns))
    return root


def test_frame_naming_is_decided_per_video(tmp_path):
    root = _naming_root(tmp_path)
    ds = PoseTrackClipDataset(ann_file='ann.json', data_root=str(root))
    got = [[osp.basename(p) for p in ds[i]['frame_paths']]
           for i in range(len(ds))]
    assert got[0] == ['00000001.jpg'] * 3 + ['00000002.jpg', '00000003.jpg']
    assert got[1] == ['00000004.jpg', '00000005.jpg'] + ['00000006.jpg'] * 3
    assert got[2] == ['000000.jpg'] * 3 + ['000001.jpg', '000002.jpg']
    assert got[3] == ['000003.jpg', '000004.jpg'] + ['000005.jpg'] * 3
    # neither frame 0 nor 1 on disk: 8 digits -> PoseTrack17 convention
    assert ds[4]['frame_indices'] == [2, 3, 4, 5, 6]
    assert ds.load_stats['naming_by_convention'] == 1


def test_key_frame_beyond_nframes_is_an_error(tmp_path):
    ann = video_annotation(frames=[4], nframes=3)
    path = write_json(tmp_path / 'ann.json', ann)
    with pytest.raises(ValueError, match=r'ann.json.*images\[0\].file_name'):
        build(ann_file=path)
