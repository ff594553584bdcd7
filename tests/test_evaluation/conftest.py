"""Shared helpers for the evaluation tests: sample data and tiny videos.

References: PoseTrack18 per-video file layout (images / annotations /
categories, ``bbox_head``, ``ignore_regions_x/_y``) as read by poseval.
"""
import os.path as osp

import numpy as np
import pytest

from mmpose_stmamba.evaluation import posetrack_ap as pt

_HERE = osp.dirname(osp.abspath(__file__))
_CANDIDATES = (
    osp.join(_HERE, '..', 'data', 'posetrack18'),
    osp.join(_HERE, '..', 'data', 'mmpose_samples', 'posetrack18'),
    osp.join(_HERE, '..', '..', '..', 'shared', 'data', 'mmpose_samples',
             'posetrack18'),
    '/work/shared/data/mmpose_samples/posetrack18',
)


@pytest.fixture(scope='session')
def posetrack18_root():
    """The PoseTrack18 sample folder (tests/data preferred)."""
    for c in _CANDIDATES:
        if osp.isfile(osp.join(c, 'annotations', 'test_posetrack18_val.json')):
            return osp.abspath(c)
    pytest.skip('PoseTrack18 sample data not found')


# The 17-point PoseTrack layout, for building people by joint name.
K17 = pt.POSETRACK_KEYPOINTS


def person17(xy_by_name, head=(0, 0, 30, 40), scores=None, track_id=0):
    """A PoseTrack18 annotation dict from {joint name: (x, y)}.

    Joints not given are written as (0, 0, 0), i.e. not annotated. The
    default head box is 30 x 40: diagonal 50, PCKh length 0.6 * 50 = 30,
    so a prediction matches when it is at most 15 px away.
    """
    kpts = np.zeros((17, 3))
    for name, (x, y) in xy_by_name.items():
        kpts[K17.index(name)] = (x, y, 1)
    ann = dict(
        keypoints=kpts.reshape(-1).tolist(),
        bbox_head=list(head),
        track_id=track_id,
        category_id=1)
    if scores is not None:
        sc = np.zeros(17)
        for name in xy_by_name:
            sc[K17.index(name)] = scores if np.isscalar(scores) else scores[
                name]
        ann['scores'] = sc.tolist()
    return ann


def body(x0, y0, step=40):
    """15 joints (no ears) on a grid far apart: joint i at (x0+i*step, y0)."""
    names = [n for n in K17 if 'ear' not in n]
    return {n: (x0 + i * step, y0) for i, n in enumerate(names)}


def video(frames, name='000001_mpii_test', labeled=None, ignore=None):
    """A PoseTrack18 per-video dict; ``frames`` is a list of annotation
    lists, one per frame."""
    images, anns = [], []
    for f, people in enumerate(frames):
        iid = 10000000000 + int(name[:6]) * 10000 + f
        img = dict(id=iid, file_name=f'images/val/{name}/{f:06d}.jpg')
        if labeled is not None:
            img['is_labeled'] = labeled[f]
        if ignore and f in ignore:
            img['ignore_regions_x'] = [[p[0] for p in poly]
                                       for poly in ignore[f]]
            img['ignore_regions_y'] = [[p[1] for p in poly]
                                       for poly in ignore[f]]
        images.append(img)
        for i, a in enumerate(people):
            anns.append(dict(a, image_id=iid, id=iid * 100 + i))
    return dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name='person', keypoints=list(K17))])
