"""Bad input to the clip data sets: each case is an error naming the file
and the field, or a counted, logged skip; nothing disappears silently.

References: the bad-input list of issue 5; the files are the bundled
PoseTrack18 sample, edited and written to tmp_path by each test.
"""
import os.path as osp
from unittest import mock

import numpy as np
import pytest
from clip_data_helpers import PT18, PT18_DET, pt18_ann, read_json, write_json

from mmpose_stmamba.datasets import (DataFormatError, LoadClipFrames,
                                     PoseTrackClipDataset, base_clip_dataset,
                                     clip_utils)

N_SAMPLE = 14  # persons in the sample annotation


def build(ann, tmp_path, **kwargs):
    """Dataset over the sample images with an edited annotation file."""
    path = write_json(tmp_path / 'ann.json', ann)
    return logged_build(ann_file=path, data_root=PT18, **kwargs)


def logged_build(**kwargs):
    """Build, keeping what the data set logged in ``ds.logged``."""
    with mock.patch.object(base_clip_dataset, 'print_log') as log, \
            mock.patch.object(clip_utils, 'print_log') as skip_log:
        ds = PoseTrackClipDataset(**kwargs)
    calls = log.call_args_list + skip_log.call_args_list
    ds.logged = ' | '.join(str(c.args[0]) for c in calls)
    return ds


# the sample itself has one labelled keypoint outside its image
N_OUTSIDE = 1


def test_annotation_json_that_does_not_parse(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"images": [ {"id": 1,, } ]')
    with pytest.raises(
            DataFormatError,
            match=r'broken.json: not valid JSON '
            r'\(line 1, column'):
        PoseTrackClipDataset(ann_file=str(path))


def test_detection_json_that_does_not_parse(tmp_path):
    det = tmp_path / 'boxes.json'
    det.write_text('[{"image_id": 1, "bbox": [1, 2')
    with pytest.raises(DataFormatError, match='boxes.json: not valid JSON'):
        PoseTrackClipDataset(
            ann_file='annotations/test_posetrack18_val.json',
            data_root=PT18,
            bbox_file=str(det),
            test_mode=True)


@pytest.mark.parametrize('section,key', [('images', 'nframes'),
                                         ('images', 'file_name'),
                                         ('annotations', 'bbox'),
                                         ('annotations', 'keypoints'),
                                         ('annotations', 'image_id')])
def test_required_field_missing(tmp_path, section, key):
    ann = pt18_ann()
    del ann[section][1][key]
    with pytest.raises(DataFormatError) as err:
        build(ann, tmp_path)
    msg = str(err.value)
    assert 'ann.json' in msg and f'{section}[1].{key}' in msg
    assert 'required field missing' in msg


def test_required_detection_field_missing(tmp_path):
    dets = read_json(PT18_DET)
    del dets[7]['score']
    path = write_json(tmp_path / 'boxes.json', dets)
    with pytest.raises(
            DataFormatError,
            match=r'boxes.json: field `\[7\]'
            r'.score`: required field missing'):
        PoseTrackClipDataset(
            ann_file='annotations/test_posetrack18_val.json',
            data_root=PT18,
            bbox_file=path,
            test_mode=True)


def test_wrong_number_of_keypoints(tmp_path):
    ann = pt18_ann()
    ann['annotations'][2]['keypoints'] = ann['annotations'][2][
        'keypoints'][:-3]
    with pytest.raises(
            DataFormatError,
            match=r'annotations\[2\].keypoints`: expected 51'):
        build(ann, tmp_path)


def test_duplicate_annotation_id(tmp_path):
    ann = pt18_ann()
    ann['annotations'][3]['id'] = ann['annotations'][0]['id']
    with pytest.raises(
            DataFormatError, match=r'annotations\[3\].id`: duplicate'):
        build(ann, tmp_path)


@pytest.mark.parametrize('wh', [(0, 50), (50, 0), (-10, 50), (40, -1)])
def test_zero_size_or_negative_gt_box_is_a_counted_skip(tmp_path, wh):
    ann = pt18_ann()
    ann['annotations'][5]['bbox'][2:] = list(wh)
    ds = build(ann, tmp_path)
    assert len(ds) == N_SAMPLE - 1
    assert ds.skips.counts['degenerate_box'] == 1
    assert 'annotations[5]' in ds.skips.examples['degenerate_box'][0]
    assert '1 x degenerate_box' in ds.logged


def test_box_entirely_outside_the_image_is_a_counted_skip(tmp_path):
    ann = pt18_ann()
    ann['annotations'][0]['bbox'][:2] = [5000, 100]
    ds = build(ann, tmp_path)
    assert len(ds) == N_SAMPLE - 1
    assert ds.skips.counts['box_outside_image'] == 1
    assert 'box_outside_image' in ds.logged


def test_zero_size_detection_box_is_a_counted_skip(tmp_path):
    dets = read_json(PT18_DET)
    dets = [d for d in dets if d['score'] >= 0.2]
    dets[0]['bbox'][2] = 0.0
    path = write_json(tmp_path / 'boxes.json', dets)
    ds = PoseTrackClipDataset(
        ann_file='annotations/test_posetrack18_val.json',
        data_root=PT18,
        bbox_file=path,
        test_mode=True)
    assert len(ds) == len(dets) - 1
    assert ds.skips.counts['degenerate_box'] == 1


def _outside(ann):
    a = ann['annotations'][4]
    kpts = a['keypoints']
    joint = next(k for k in range(17) if kpts[3 * k + 2] > 0)
    kpts[3 * joint] = 2500.0  # the image is 1920 wide
    return ann, a['id'], joint


def test_keypoints_outside_the_image_kept_and_counted(tmp_path):
    ann, ann_id, joint = _outside(pt18_ann())
    ds = build(ann, tmp_path)
    assert len(ds) == N_SAMPLE
    assert ds.load_stats['kpt_outside'] == N_OUTSIDE + 1
    assert f'{N_OUTSIDE + 1} labelled keypoints lie outside' in ds.logged
    info = next(ds[i] for i in range(len(ds)) if ds[i]['id'] == ann_id)
    assert info['keypoints_visible'][0, joint] == 1
    assert info['keypoints'][0, joint, 0] == 2500.0


def test_keypoints_outside_the_image_made_invisible(tmp_path):
    ann, ann_id, joint = _outside(pt18_ann())
    ds = build(ann, tmp_path, kpt_outside='invisible')
    info = next(ds[i] for i in range(len(ds)) if ds[i]['id'] == ann_id)
    assert info['keypoints_visible'][0, joint] == 0
    assert ds.load_stats['kpt_outside'] == N_OUTSIDE + 1


def test_keypoints_outside_the_image_as_an_error(tmp_path):
    # the sample's own outside keypoint (annotations[10]) is an error
    with pytest.raises(
            DataFormatError,
            match=r'annotations\[10\].keypoints`: 1 labelled'):
        build(pt18_ann(), tmp_path, kpt_outside='error')
    ann, _, joint = _outside(pt18_ann())
    with pytest.raises(
            DataFormatError,
            match=rf'annotations\[4\].keypoints`: 1 labelled.*'
            rf'outside the 1920x1080 image \(indices \[{joint}\]'):
        build(ann, tmp_path, kpt_outside='error')


def _dets_with_unknown_image(tmp_path):
    dets = [d for d in read_json(PT18_DET) if d['score'] >= 0.2][:10]
    dets[3] = dict(dets[3], image_id=123456789)
    return write_json(tmp_path / 'boxes.json', dets), dets


def test_detection_for_an_unknown_image_is_a_counted_skip(tmp_path):
    path, dets = _dets_with_unknown_image(tmp_path)
    ds = logged_build(
        ann_file='annotations/test_posetrack18_val.json',
        data_root=PT18,
        bbox_file=path,
        test_mode=True)
    assert len(ds) == 9
    assert ds.skips.counts['unknown_image'] == 1
    assert '123456789' in ds.skips.examples['unknown_image'][0]
    assert '1 x unknown_image' in ds.logged


def test_detection_for_an_unknown_image_as_an_error(tmp_path):
    path, _ = _dets_with_unknown_image(tmp_path)
    with pytest.raises(
            DataFormatError,
            match=r'boxes.json: field `\[3\].image_id`: image '
            r'123456789 is not in the annotations'):
        PoseTrackClipDataset(
            ann_file='annotations/test_posetrack18_val.json',
            data_root=PT18,
            bbox_file=path,
            test_mode=True,
            unknown_det='error')


def test_persons_without_keypoints_and_crowds_are_counted(tmp_path):
    ann = pt18_ann()
    ann['annotations'][0]['keypoints'] = [0] * 51
    ann['annotations'][1]['iscrowd'] = True
    ds = build(ann, tmp_path)
    assert len(ds) == N_SAMPLE - 2
    assert ds.skips.counts['no_keypoints'] == 1
    assert ds.skips.counts['crowd'] == 1
    assert len(ds) + sum(ds.skips.counts.values()) == N_SAMPLE


def test_missing_key_frame_is_an_error_naming_the_file(tmp_path):
    ann = pt18_ann()
    img = ann['images'][0]
    img['file_name'] = img['file_name'].replace('000000.jpg', '000007.jpg')
    ds = build(ann, tmp_path)
    info = next(ds[i] for i in range(len(ds)) if ds[i]['img_id'] == img['id'])
    with pytest.raises(
            FileNotFoundError,
            match=r'key frame missing or unreadable: .*'
            r'000007.jpg \(img_id=' + str(img['id'])):
        LoadClipFrames()(info)


def test_missing_supporting_frame_uses_nearest_and_is_counted():
    ds = PoseTrackClipDataset(
        ann_file='annotations/test_posetrack18_val.json', data_root=PT18)
    info = ds[0]  # key frame 0; frames 1 and 2 are not in the sample
    before = LoadClipFrames.num_missing_total
    with mock.patch(
            'mmpose_stmamba.datasets.transforms.loading.print_log') as log:
        out = LoadClipFrames()(info)
    assert out['missing_frames'] == info['frame_paths'][3:]
    assert [osp.basename(p)
            for p in out['missing_frames']] == ['000001.jpg', '000002.jpg']
    assert LoadClipFrames.num_missing_total == before + 2
    frames = out['img']
    assert len(frames) == 5
    for f in frames[1:]:
        np.testing.assert_array_equal(f, frames[0])
    assert frames[3] is not frames[2]  # copies, not aliases
    if before == 0:
        assert log.call_count == 1  # first occurrence in this process


def test_missing_supporting_frame_as_an_error():
    ds = PoseTrackClipDataset(
        ann_file='annotations/test_posetrack18_val.json', data_root=PT18)
    with pytest.raises(FileNotFoundError, match='supporting frame'):
        LoadClipFrames(missing='error')(ds[0])


def test_unlabeled_frames_are_counted_skips(tmp_path):
    ann = pt18_ann()
    ann['images'][0]['is_labeled'] = False
    n_on_image = sum(a['image_id'] == ann['images'][0]['id']
                     for a in ann['annotations'])
    ds = build(ann, tmp_path)
    assert ds.skips.counts['unlabeled_frame'] == n_on_image
    assert len(ds) == N_SAMPLE - n_on_image
    ds_all = build(ann, tmp_path, labeled_only=False)
    assert len(ds_all) == N_SAMPLE


def test_image_size_read_from_the_frame_when_missing(tmp_path):
    ann = pt18_ann()
    del ann['images'][0]['width'], ann['images'][0]['height']
    ds = build(ann, tmp_path)
    assert len(ds) == N_SAMPLE and ds.load_stats['size_from_file'] == 1
    assert ds[0]['ori_shape'] == (1080, 1920)
    ann['images'][0]['file_name'] = 'images/val/nowhere/000000.jpg'
    with pytest.raises(
            DataFormatError,
            match=r'images\[0\].width`: missing, and the frame'):
        build(ann, tmp_path)


def test_top_level_images_missing(tmp_path):
    with pytest.raises(
            DataFormatError, match=r'ann.json: field `<top level>.images`'):
        build(dict(annotations=[]), tmp_path)


@pytest.mark.parametrize('bbox', [None, [1, 2, 3], ['a', 2, 3, 4]])
def test_malformed_detection_box(tmp_path, bbox):
    dets = read_json(PT18_DET)[:5]
    dets[2]['bbox'] = bbox
    path = write_json(tmp_path / 'boxes.json', dets)
    with pytest.raises(
            DataFormatError, match=r'boxes.json: field `\[2\]'
            r'.bbox`'):
        PoseTrackClipDataset(
            ann_file='annotations/test_posetrack18_val.json',
            data_root=PT18,
            bbox_file=path,
            test_mode=True)
