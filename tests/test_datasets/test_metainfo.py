"""Our keypoint layouts equal MMPose's, and resolve from any directory.

References: MMPose's ``configs/_base_/datasets/{posetrack18,jhmdb}.py``
(read from the installed package's ``.mim`` copy when present).
"""
import os
import os.path as osp

import mmpose
import numpy as np
import pytest
from mmpose.datasets.datasets.utils import parse_pose_metainfo

from mmpose_stmamba.datasets import JhmdbClipDataset, PoseTrackClipDataset

MIM = osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets')


@pytest.mark.parametrize('cls,name', [(PoseTrackClipDataset, 'posetrack18'),
                                      (JhmdbClipDataset, 'jhmdb')])
def test_layout_matches_mmpose(cls, name, tmp_path):
    ref_file = osp.join(MIM, f'{name}.py')
    if not osp.isfile(ref_file):
        pytest.skip('MMPose config copy (.mim) not installed')
    cwd = os.getcwd()
    os.chdir(tmp_path)  # from_file must not depend on the working dir
    try:
        ours = cls._load_metainfo()
    finally:
        os.chdir(cwd)
    ref = parse_pose_metainfo(dict(from_file=ref_file))
    for key in ('dataset_name', 'num_keypoints', 'keypoint_id2name',
                'flip_indices', 'flip_pairs', 'upper_body_ids',
                'lower_body_ids', 'skeleton_links'):
        assert ours[key] == ref[key], key
    for key in ('dataset_keypoint_weights', 'sigmas'):
        np.testing.assert_allclose(ours[key], ref[key])
