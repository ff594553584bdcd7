"""Shared fixtures for the data tests: the bundled samples and tiny files.

References: the sample clips in tests/data (MMPose test data, Apache-2.0,
see tests/data/README.md).  Paths are absolute, so the tests run from any
working directory.
"""
import copy
import json
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data')
PT18 = osp.join(DATA, 'posetrack18')
PT18_ANN = osp.join(PT18, 'annotations', 'test_posetrack18_val.json')
PT18_DET = osp.join(PT18, 'annotations',
                    'test_posetrack18_human_detections.json')
JHMDB = osp.join(DATA, 'jhmdb')
VIDEO = 'videos/000001_mpiinew_test'  # 5 consecutive frames, 1280x720


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)
    return str(path)


@pytest.fixture(scope='session')
def pt18_ann():
    """The sample's merged PoseTrack18 annotation (a fresh copy per use)."""
    data = read_json(PT18_ANN)
    return lambda: copy.deepcopy(data)


def video_annotation(frames=range(5), nframes=5, box=(500, 200, 200, 400)):
    """A tiny annotation for the 5-frame sample video, one person a frame.

    The person's keypoints are made up but lie inside the box.
    """
    x, y, w, h = box
    rng = np.random.default_rng(0)
    images, anns = [], []
    for t in frames:
        img_id = 10000010000 + t
        images.append(
            dict(
                id=img_id, file_name=f'{VIDEO}/{t:06d}.jpg', width=1280,
                height=720, nframes=nframes, frame_id=img_id, vid_id='000001',
                is_labeled=True))
        kpts = []
        for k in range(17):
            v = 0 if k in (3, 4) else 1
            kx, ky = rng.uniform(x + 10, x + w - 10), rng.uniform(
                y + 10, y + h - 10)
            kpts += [float(kx) * v, float(ky) * v, v]
        anns.append(
            dict(
                id=img_id * 100, image_id=img_id, track_id=0, category_id=1,
                bbox=list(box), keypoints=kpts, num_keypoints=15))
    return dict(images=images, annotations=anns, categories=[])


@pytest.fixture
def video_root(tmp_path):
    """A data root whose ``videos/`` links to the sample video frames."""
    root = tmp_path / 'pt'
    (root / 'videos').mkdir(parents=True)
    shutil.copytree(osp.join(PT18, VIDEO), root / VIDEO)
    return root


def write_frames(folder, names, size=(64, 48)):
    """Small JPEG frames whose pixel value encodes the frame number."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        n = int(osp.splitext(name)[0])
        img = np.full((size[1], size[0], 3), (n * 20) % 256, np.uint8)
        cv2.imwrite(str(folder / name), img)
