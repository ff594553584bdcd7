"""Clip transforms on the real 5-frame sample video.

References: docs/design.md ("Clips in the data pipeline"); MMPOSE_NOTES
section 0.6 claims MMPose's RandomFlip / TopdownAffine / PackPoseInputs take
a list of frames and the box transforms leave images alone: verified here,
not trusted.  The same-affine test follows a marked pixel through the warp.
"""
import copy
import os.path as osp

import numpy as np
import pytest
from clip_data_helpers import PT18, video_annotation, write_json
from mmcv.transforms import Compose
from mmpose.registry import DATASETS, TRANSFORMS

from mmpose_stmamba.datasets import CLIP_META_KEYS, LoadClipFrames

INPUT = (192, 256)
CODEC = dict(
    type='MSRAHeatmap', input_size=INPUT, heatmap_size=(48, 64), sigma=2)


def dataset(tmp_path, pipeline=()):
    ann = write_json(tmp_path / 'ann.json', video_annotation())
    return DATASETS.build(
        dict(
            type='PoseTrackClipDataset',
            data_root=PT18,
            ann_file=ann,
            pipeline=list(pipeline)))


def augment(flip=1.0, rotate=1.0):
    return [
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', prob=flip),
        dict(type='RandomBBoxTransform', rotate_prob=rotate, shift_prob=1.0),
        dict(type='TopdownAffine', input_size=INPUT),
    ]


def test_packed_clip_shapes_and_metainfo(tmp_path):
    pipeline = [dict(type='LoadClipFrames')] + augment() + [
        dict(type='GenerateTarget', encoder=CODEC),
        dict(type='PackClipInputs')
    ]
    ds = dataset(tmp_path, pipeline)
    out = ds[2]  # key frame 2: the full clip 0..4 is on disk
    inputs, sample = out['inputs'], out['data_samples']
    assert tuple(inputs.shape) == (5, 3, 256, 192)
    assert str(inputs.dtype) == 'torch.uint8'
    meta = sample.metainfo
    assert meta['frame_offsets'] == (-2, -1, 0, 1, 2)
    assert [osp.basename(p) for p in meta['frame_paths']
            ] == [f'{i:06d}.jpg' for i in range(5)]
    assert meta['img_path'] == meta['frame_paths'][2]
    assert meta['missing_frames'] == []
    assert meta['vid_id'] == '000001' and meta['frame_index'] == 2
    assert meta['nframes'] == 5 and meta['flip'] is True
    assert tuple(sample.gt_fields.heatmaps.shape) == (17, 64, 48)
    assert tuple(sample.gt_instance_labels.keypoint_weights.shape) == (1, 17)
    assert set(meta) <= set(CLIP_META_KEYS)
    # the five frames of the video differ, so the clip is not 5 copies
    assert not (inputs[0] == inputs[4]).all()


def _marker_positions(results_before, seed, mark_xy):
    """Run augment() on the clip with and without a 5x5 mark at mark_xy;
    return the mark's centroid in every output frame and the transformed
    keypoint 0 (placed on the mark)."""
    x, y = mark_xy
    outs = []
    for mark in (False, True):
        res = copy.deepcopy(results_before)
        if mark:
            for f in res['img']:
                f[y - 2:y + 3, x - 2:x + 3] = (255, 0, 255)
        np.random.seed(seed)
        outs.append(Compose([TRANSFORMS.build(t) for t in augment()])(res))
    plain, marked = outs
    cents = []
    for a, b in zip(plain['img'], marked['img']):
        diff = np.abs(a.astype(np.int32) - b.astype(np.int32)).sum(-1)
        ys, xs = np.nonzero(diff > 30)
        assert len(xs) > 0
        w = diff[ys, xs]
        cents.append((np.average(xs, weights=w), np.average(ys, weights=w)))
    return np.array(cents), marked['transformed_keypoints'][0, 0]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_one_affine_for_all_frames_marked_pixel(tmp_path, seed):
    ds = dataset(tmp_path)
    info = ds[2]
    mark = (560, 320)  # inside the box (500, 200, 200, 400)
    info['keypoints'][0, 0] = mark
    res = LoadClipFrames()(info)
    cents, kpt = _marker_positions(res, seed, mark)
    # every frame's mark lands where the key frame's mark lands ...
    np.testing.assert_allclose(cents, cents[[2] * 5], atol=0.5)
    # ... which is where the warp sends the keypoint placed on it
    np.testing.assert_allclose(cents[2], kpt, atol=1.0)


def test_random_flip_flips_every_frame(tmp_path):
    res = LoadClipFrames()(dataset(tmp_path)[2])
    before = [f.copy() for f in res['img']]
    out = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))(res)
    for a, b in zip(before, out['img']):
        np.testing.assert_array_equal(a[:, ::-1], b)


@pytest.mark.parametrize('cfg', [
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomHalfBody', prob=1.0, min_total_keypoints=2),
    dict(type='RandomBBoxTransform', rotate_prob=1.0, shift_prob=1.0),
])
def test_box_transforms_leave_the_frames_alone(tmp_path, cfg):
    res = LoadClipFrames()(dataset(tmp_path)[2])
    if cfg['type'] != 'GetBBoxCenterScale':
        res = TRANSFORMS.build(dict(type='GetBBoxCenterScale'))(res)
    frames = list(res['img'])
    centre = res.get('bbox_center', np.zeros(2)).copy()
    np.random.seed(0)
    out = TRANSFORMS.build(cfg)(res)
    assert all(a is b for a, b in zip(frames, out['img']))
    if cfg['type'] != 'GetBBoxCenterScale':
        assert not np.allclose(out['bbox_center'], centre)


def test_targets_come_from_the_key_frame_only(tmp_path):
    tail = augment() + [dict(type='GenerateTarget', encoder=CODEC)]
    ds = dataset(tmp_path)
    clip = LoadClipFrames()(ds[2])
    single = LoadClipFrames()(
        dict(ds[2], frame_paths=[ds[2]['img_path']], frame_offsets=(0, )))
    outs = []
    for res in (clip, single):
        np.random.seed(3)
        outs.append(Compose([TRANSFORMS.build(t) for t in tail])(res))
    np.testing.assert_array_equal(outs[0]['heatmaps'], outs[1]['heatmaps'])
    np.testing.assert_array_equal(outs[0]['img'][2], outs[1]['img'][0])


def test_apply_to_clip_draws_once_for_all_frames(tmp_path):
    res = LoadClipFrames()(dataset(tmp_path)[2])
    key = res['img'][2]
    wrapper = TRANSFORMS.build(
        dict(type='ApplyToClip', transform=dict(type='PhotometricDistortion')))
    plain = TRANSFORMS.build(dict(type='PhotometricDistortion'))
    changed = False
    for seed in range(4):
        clip = dict(res, img=[key.copy() for _ in range(5)])
        np.random.seed(seed)
        out = wrapper(clip)
        np.random.seed(seed)
        ref = plain(dict(res, img=key.copy()))
        for f in out['img']:  # identical frames stay identical
            np.testing.assert_array_equal(f, out['img'][2])
        np.testing.assert_array_equal(out['img'][2], ref['img'])
        changed |= not np.array_equal(out['img'][2], key)
    assert changed


def test_apply_to_clip_changes_other_fields_once(tmp_path):
    res = LoadClipFrames()(dataset(tmp_path)[2])
    bbox = res['bbox'].copy()
    out = TRANSFORMS.build(
        dict(type='ApplyToClip', transform=dict(type='RandomFlip', prob=1.0)))(
            res)
    np.testing.assert_allclose(
        out['bbox'][0, [0, 2]], 1280 - 1 - bbox[0, [2, 0]], atol=1.0)
    for a, b in zip(res['img'], out['img']):
        np.testing.assert_array_equal(a[:, ::-1], b)


def test_pack_single_image_is_a_one_frame_clip():
    img = np.zeros((8, 6, 3), np.uint8)
    out = TRANSFORMS.build(dict(type='PackClipInputs'))(
        dict(img=img, id=1, img_id=1))
    assert tuple(out['inputs'].shape) == (1, 3, 8, 6)


def test_load_given_frames_and_size_checks():
    frames = [np.zeros((4, 5, 3), np.uint8) for _ in range(3)]
    out = LoadClipFrames()(
        dict(img=frames, img_path='x.jpg', frame_offsets=(-1, 0, 1)))
    assert out['img_shape'] == (4, 5) and out['missing_frames'] == []
    with pytest.raises(ValueError, match='holds 3 frames'):
        LoadClipFrames()(dict(img=frames, img_path='x', frame_offsets=(0, )))
    frames[0] = np.zeros((5, 5, 3), np.uint8)
    with pytest.raises(ValueError, match='differs from the key frame size'):
        LoadClipFrames()(
            dict(img=frames, img_path='x.jpg', frame_offsets=(-1, 0, 1)))
    with pytest.raises(ValueError, match='missing'):
        LoadClipFrames(missing='skip')
