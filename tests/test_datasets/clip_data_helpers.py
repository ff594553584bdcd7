"""Shared helpers for the data tests: the bundled samples and tiny files.

References: the sample clips in tests/data (MMPose test data, Apache-2.0,
see tests/data/README.md).  Paths are absolute, so the tests run from any
working directory.
"""
import copy
import json
import os.path as osp

import cv2
import numpy as np
from mmengine.registry import init_default_scope

import mmpose_stmamba  # noqa: F401  (registers the plugin)

# configs run with default_scope='mmpose'; data set pipelines are built
# from the current scope, as in MMPose's own tests
init_default_scope('mmpose')

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


def pt18_ann():
    """A fresh copy of the sample's merged PoseTrack18 annotation."""
    return copy.deepcopy(read_json(PT18_ANN))


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
                id=img_id,
                file_name=f'{VIDEO}/{t:06d}.jpg',
                width=1280,
                height=720,
                nframes=nframes,
                frame_id=img_id,
                vid_id='000001',
                is_labeled=True))
        kpts = []
        for k in range(17):
            v = 0 if k in (3, 4) else 1
            kx, ky = rng.uniform(x + 10,
                                 x + w - 10), rng.uniform(y + 10, y + h - 10)
            kpts += [float(kx) * v, float(ky) * v, v]
        anns.append(
            dict(
                id=img_id * 100,
                image_id=img_id,
                track_id=0,
                category_id=1,
                bbox=list(box),
                keypoints=kpts,
                num_keypoints=15))
    return dict(images=images, annotations=anns, categories=[])


def write_frames(folder, names, size=(64, 48)):
    """Small JPEG frames whose pixel value encodes the frame number."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        n = int(osp.splitext(name)[0])
        img = np.full((size[1], size[0], 3), (n * 20) % 256, np.uint8)
        cv2.imwrite(str(folder / name), img)
