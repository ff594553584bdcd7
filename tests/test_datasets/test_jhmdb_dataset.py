"""JhmdbClipDataset on the bundled Sub-JHMDB sample.

References: tests/data/README.md (3 images, one person each, 320x240 PNG,
MATLAB 1-based coordinates) and MMPose's ``JhmdbDataset`` (minus 1 shift).
"""
import os.path as osp

import numpy as np
import pytest
from clip_data_helpers import JHMDB, read_json

from mmpose_stmamba.datasets import JhmdbClipDataset, LoadClipFrames

ANN = osp.join(JHMDB, 'test_jhmdb_sub1.json')


def build(**kwargs):
    return JhmdbClipDataset(
        ann_file='test_jhmdb_sub1.json', data_root=JHMDB, **kwargs)


def test_instances_coordinates_and_clips():
    ds = build()
    raw = read_json(ANN)
    assert len(ds) == 3
    ann = raw['annotations'][0]
    info = ds[0]
    assert info['dataset_name'] == 'jhmdb'
    assert info['keypoints'].shape == (1, 15, 2)
    kpts = np.array(ann['keypoints'], np.float32).reshape(15, 3)
    np.testing.assert_allclose(info['keypoints'][0], kpts[:, :2] - 1)
    assert info['keypoints_visible'].all()
    x, y = ann['bbox'][:2]
    np.testing.assert_allclose(
        info['bbox'][0, :2], [max(x - 1, 0), max(y - 1, 0)], atol=1e-4)
    # 1-based %05d.png frames: key 00001 is the video's first frame
    assert info['frame_indices'] == [1, 1, 1, 2, 3]
    assert [osp.basename(p) for p in info['frame_paths']
            ] == ['00001.png'] * 3 + ['00002.png', '00003.png']
    assert info['nframes'] == raw['images'][0]['nframes']
    assert info['flip_indices'] == [
        0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13
    ]


def test_clip_loading_falls_back_to_the_key_frame():
    out = LoadClipFrames()(build()[0])
    assert len(out['img']) == 5
    assert out['img_shape'] == (240, 320)
    assert len(out['missing_frames']) == 2


def test_split_argument(tmp_path):
    root = tmp_path / 'jhmdb'
    (root / 'annotations').mkdir(parents=True)
    for name in ('Sub2_train.json', 'Sub2_test.json'):
        (root / 'annotations' / name).write_text(open(ANN).read())
    train = JhmdbClipDataset(split=2, data_root=str(root))
    test = JhmdbClipDataset(split=2, data_root=str(root), test_mode=True)
    assert train.ann_file.endswith('annotations/Sub2_train.json')
    assert test.ann_file.endswith('annotations/Sub2_test.json')
    assert len(train) == len(test) == 3
    with pytest.raises(ValueError, match='split'):
        JhmdbClipDataset(split=4, data_root=str(root))
