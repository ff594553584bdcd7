"""PoseTrack AP core: hand-computed cases (no poseval needed).

References: the expected values follow poseval's / the PoseTrack21 kit's
published AP definition (see ``posetrack_ap``); each is worked out by hand
in the comments.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmpose_stmamba.evaluation import posetrack_ap as pt
from .conftest import body, person17, video

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def ap_of(gt, pred, protocol='posetrack18'):
    return pt.evaluate_videos([(gt, pred)], protocol)


def joint_ap(res, name):
    return res['per_joint']['ap'][pt.POSEVAL_JOINTS.index(name)]


def test_joint_mapping_from_17_point_layout():
    # poseval order -> index in the 17-point PoseTrack18 layout, by hand:
    # r_ankle 16, r_knee 14, r_hip 12, l_hip 11, l_knee 13, l_ankle 15,
    # r_wrist 10, r_elbow 8, r_shoulder 6, l_shoulder 5, l_elbow 7,
    # l_wrist 9, head_bottom 1, nose 0, head_top 2 (ears 3, 4 unused)
    assert pt.map_17_to_15() == [
        16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2
    ]
    # behaviour: a GT/prediction pair that has only the left wrist (17-point
    # index 9) must score in poseval's slot 11 and nowhere else
    gt = video([[person17({'left_wrist': (100, 100)})]])
    pred = video([[person17({'left_wrist': (101, 100)}, scores=0.5)]])
    res = ap_of(gt, pred)
    ap = res['per_joint']['ap']
    assert ap[11] == 100.0
    assert np.count_nonzero(ap[:15]) == 1


def test_missing_name_in_layout_raises():
    with pytest.raises(ValueError, match='head_top'):
        pt.map_17_to_15([n for n in pt.POSETRACK_KEYPOINTS if n != 'head_top'])


def test_head_size_is_0_6_times_head_box_diagonal():
    # box 30 x 40: diagonal 50, 0.6 * 50 = 30
    assert pt.head_size((5, 7, 30, 40)) == pytest.approx(30.0)


def test_pckh_threshold_edges():
    # PCKh length 30 -> a joint matches up to 0.5 * 30 = 15 px (<=)
    gt = video([[person17({'nose': (100, 100), 'head_top': (100, 60)})]])
    pred = video([[person17({'nose': (115, 100), 'head_top': (100, 44.9)},
                            scores=0.9)]])
    res = ap_of(gt, pred)
    assert joint_ap(res, 'nose') == 100.0  # 15 px: match
    assert joint_ap(res, 'head_top') == 0.0  # 15.1 px: miss


def test_two_people_false_positive_missing_joint_by_hand():
    # One frame. GT A: all 15 joints; GT B: 14 joints (left wrist not
    # annotated). P1 = A exactly, right ankle not predicted, score 0.9.
    # P2 = B exactly except the right wrist 20 px off (> 15 px), and it
    # does predict a left wrist, score 0.8. P3: far from everyone, 15
    # joints, score 0.95 (ranked first).
    # Assignment: P1 -> A (14/15), P2 -> B (13/14), P3 -> none.
    # Generic joint (12 of them): sorted F(P3) T(P1) T(P2), n_gt 2:
    #   precision 0, 1/2, 2/3; recall 0, 1/2, 1; envelope 2/3 everywhere
    #   -> AP = 0.5 * 2/3 + 0.5 * 2/3 = 2/3 = 66.67
    # right ankle: F(P3) T(P2); precision 0, 1/2; recall 0, 1/2
    #   -> AP = 0.5 * 0.5 = 25
    # right wrist: F(P3) T(P1) F(P2); recall steps only at P1 -> 0.5 * 0.5
    #   = 25
    # left wrist: n_gt 1; F(P3) T(P1) F(P2 has no GT joint) -> 1.0 * 0.5
    #   = 50
    # Groups: Wrist = (25 + 50) / 2 = 37.5; Ankle = (25 + 66.67) / 2 =
    # 45.83; Total = (12 * 66.67 + 25 + 25 + 50) / 15 = 60.
    # Precision (last point): 2/3 x12, 1/2, 1/3, 1/3 -> mean 61.11.
    # Recall (last point): 1 x12, 1/2, 1/2, 1 -> mean 93.33.
    a = body(100, 100)
    b = body(100, 400)
    b_gt = {k: v for k, v in b.items() if k != 'left_wrist'}
    gt = video([[person17(a, track_id=0), person17(b_gt, track_id=1)]])
    p1 = {k: v for k, v in a.items() if k != 'right_ankle'}
    p2 = dict(b)
    p2['right_wrist'] = (b['right_wrist'][0] + 20, b['right_wrist'][1])
    p3 = body(3000, 3000)
    pred = video([[
        person17(p1, scores=0.9),
        person17(p2, scores=0.8),
        person17(p3, scores=0.95)
    ]])
    res = ap_of(gt, pred)
    expect = {
        'Head': 200 / 3,
        'Shoulder': 200 / 3,
        'Elbow': 200 / 3,
        'Wrist': 37.5,
        'Hip': 200 / 3,
        'Knee': 200 / 3,
        'Ankle': (25 + 200 / 3) / 2,
        'Total': 60.0
    }
    for k, v in expect.items():
        assert res['ap'][k] == pytest.approx(v), k
    assert res['precision']['Total'] == pytest.approx(100 * 55 / 90)
    assert res['recall']['Total'] == pytest.approx(100 * 14 / 15)


def test_head_group_is_the_mean_of_three_joint_aps():
    # One person; prediction exact except head_top 40 px off: head_top AP
    # 0, head_bottom and nose 100 -> Head = 200 / 3 (a pooled head AP
    # would differ); Total = 14 * 100 / 15.
    a = body(100, 100)
    p = dict(a)
    p['head_top'] = (a['head_top'][0] + 40, a['head_top'][1])
    res = ap_of(video([[person17(a)]]), video([[person17(p, scores=0.7)]]))
    assert res['ap']['Head'] == pytest.approx(200 / 3)
    assert res['ap']['Total'] == pytest.approx(1400 / 15)
    assert res['ap']['Shoulder'] == 100.0


def test_points_in_polygon_strict_interior():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    pts = np.array([[5, 5], [10, 5], [0, 0], [11, 5], [5, 10], [9.9, 9.9]])
    assert pt.points_in_polygon(pts, square).tolist() == [
        True, False, False, False, False, True
    ]
    # concave "U": the notch (5, 8) is outside, the arms inside
    u_shape = np.array([[0, 0], [10, 0], [10, 10], [7, 10], [7, 3], [3, 3],
                        [3, 10], [0, 10]])
    assert pt.points_in_polygon(np.array([[5, 8], [1, 8], [9, 8]]),
                                u_shape).tolist() == [False, True, True]
    # fewer than three vertices: no area
    assert not pt.points_in_polygon(np.array([[1, 1]]),
                                    np.array([[0, 0], [2, 2]])).any()


def test_ignore_regions_remove_gt_and_predictions():
    # GT A outside the region, GT B entirely inside it, the FP entirely
    # inside it: B and the FP disappear, so every joint has one detection
    # (A's, true) and one GT -> AP 100 everywhere. Without the region the
    # FP (score 0.95) ranks first: AP = 0.5 * 1/2 ... checked below.
    a = body(100, 100)
    b = body(100, 2000)
    fp = body(100, 2100)
    region = [(50, 1900), (1000, 1900), (1000, 2200), (50, 2200)]
    gt_frames = [[person17(a), person17(b, track_id=1)]]
    pred_frames = [[person17(a, scores=0.9), person17(fp, scores=0.95)]]
    res = ap_of(
        video(gt_frames, ignore={0: [region]}), video(pred_frames))
    assert res['ap']['Total'] == 100.0
    assert res['recall']['Total'] == 100.0
    # Same data, no region: per joint F(FP, 0.95) T(A, 0.9), n_gt 2 ->
    # precision 0, 1/2; recall 0, 1/2 -> AP = 0.5 * 0.5 = 25
    res = ap_of(video(gt_frames), video(pred_frames))
    assert res['ap']['Total'] == pytest.approx(25.0)


def test_ignore_region_removes_single_joints():
    # Only A's nose lies in the region: it is no longer GT, and the
    # prediction's nose (also inside) is no longer a detection, so no
    # nose AP can be computed (poseval: AP of a joint without detections
    # stays 0) while the other joints are perfect.
    a = body(100, 100)
    nose = a['nose']
    region = [(nose[0] - 5, nose[1] - 5), (nose[0] + 5, nose[1] - 5),
              (nose[0] + 5, nose[1] + 5), (nose[0] - 5, nose[1] + 5)]
    res = ap_of(
        video([[person17(a)]], ignore={0: [region]}),
        video([[person17(a, scores=0.8)]]))
    assert joint_ap(res, 'nose') == 0.0
    assert joint_ap(res, 'head_top') == 100.0
    assert res['ap']['Total'] == pytest.approx(1400 / 15)


def test_frames_without_people_posetrack18_vs_21():
    # Frame 0: GT A, prediction A (0.5). Frame 1: labeled, no GT person,
    # one prediction (0.9).
    # PoseTrack18 drops frames without GT people: AP 100.
    # PoseTrack21 keeps labeled frames: per joint F(0.9) T(0.5), n_gt 1 ->
    # precision 0, 1/2; recall 0, 1 -> AP 50.
    a = body(100, 100)
    gt = video([[person17(a)], []], labeled=[True, True])
    pred = video([[person17(a, scores=0.5)], [person17(a, scores=0.9)]])
    assert ap_of(gt, pred)['ap']['Total'] == 100.0
    assert ap_of(gt, pred, 'posetrack21')['ap']['Total'] == pytest.approx(
        50.0)
    # an unlabeled frame is skipped by PoseTrack21 too
    gt = video([[person17(a)], []], labeled=[True, False])
    assert ap_of(gt, pred, 'posetrack21')['ap']['Total'] == 100.0


def test_missing_scores_and_empty_predictions():
    # no prediction at all: every joint AP 0 (poseval leaves it at 0)
    a = body(100, 100)
    res = ap_of(video([[person17(a)]]), video([[]]))
    assert res['ap']['Total'] == 0.0
    # predictions without "scores" get -9999 and still count
    res = ap_of(video([[person17(a)]]), video([[person17(a)]]))
    assert res['ap']['Total'] == 100.0


def test_frame_count_mismatch_raises():
    a = body(100, 100)
    with pytest.raises(ValueError, match='frames'):
        ap_of(video([[person17(a)], []]), video([[]]))


def test_accel_error_by_hand():
    # One track over frames 0, 1, 2. GT x = 100, 110, 120 (zero
    # acceleration); prediction x = 100, 112, 120: a = 100 - 224 + 120 =
    # -4 in x, 0 in y -> error 4 px for each of the 15 joints.
    frames_gt, frames_pr = [], []
    for t, (xg, xp) in enumerate([(100, 100), (110, 112), (120, 120)]):
        g = {k: (x + xg, y) for k, (x, y) in body(0, 100).items()}
        p = {k: (x + xp, y) for k, (x, y) in body(0, 100).items()}
        frames_gt.append([person17(g, track_id=3)])
        frames_pr.append([person17(p, scores=0.9)])
    res = ap_of(video(frames_gt), video(frames_pr))
    assert res['accel_err'] == pytest.approx(4.0)
    assert res['num_accel'] == 15
    assert res['ap']['Total'] == 100.0


def test_gt_as_predictions_on_sample_gives_100(posetrack18_root, tmp_path):
    gt_dir = osp.join(posetrack18_root, 'annotations', 'val')
    # predictions: the GT files with a score per annotated joint
    for name in os.listdir(gt_dir):
        with open(osp.join(gt_dir, name)) as f:
            data = json.load(f)
        for ann in data['annotations']:
            v = np.asarray(ann['keypoints'], float).reshape(-1, 3)[:, 2]
            ann['scores'] = (v > 0).astype(float).tolist()
        with open(tmp_path / name, 'w') as f:
            json.dump(data, f)
    res = pt.evaluate_dirs(gt_dir, str(tmp_path))
    assert res['num_videos'] == 3
    for k in pt.GROUP_NAMES:
        assert res['ap'][k] == 100.0, k


def test_tool_writes_json(posetrack18_root, tmp_path):
    gt_dir = osp.join(posetrack18_root, 'annotations', 'val')
    out = tmp_path / 'ap.json'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'eval_posetrack.py'), '--gt-dir', gt_dir,
        '--pred-dir', gt_dir + os.sep, '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          check=True)
    assert 'Total' in proc.stdout
    res = json.loads(out.read_text())
    for k in ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle',
              'Total'):
        assert res[k] == 100.0


def test_joint_existence_rule_posetrack18_vs_21():
    # The nose sits at x = 0, y = 50 in GT and prediction. PoseTrack18
    # counts it (only (0, 0, v=0) means "absent") and it matches: AP 100.
    # PoseTrack21 needs x > 0 and y > 0: no nose GT, no nose detection ->
    # nose AP 0, Total = 14 * 100 / 15.
    a = body(100, 100)
    a['nose'] = (0, 50)
    gt = video([[person17(a)]], labeled=[True])
    pred = video([[person17(a, scores=0.6)]])
    assert ap_of(gt, pred)['ap']['Total'] == 100.0
    res = ap_of(gt, pred, 'posetrack21')
    assert joint_ap(res, 'nose') == 0.0
    assert res['ap']['Total'] == pytest.approx(1400 / 15)


def test_unknown_protocol_raises():
    with pytest.raises(ValueError, match='protocol'):
        pt.parse_video(video([[]]), 'posetrack17')


def test_dir_errors_name_the_file(tmp_path):
    a = body(100, 100)
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'pr').mkdir()
    (tmp_path / 'gt' / 'v.json').write_text(
        json.dumps(video([[person17(a)], []])))
    with pytest.raises(FileNotFoundError, match='v.json'):
        pt.evaluate_dirs(str(tmp_path / 'gt'), str(tmp_path / 'pr'))
    (tmp_path / 'pr' / 'v.json').write_text(json.dumps(video([[]])))
    with pytest.raises(ValueError, match='v.json'):
        pt.evaluate_dirs(str(tmp_path / 'gt'), str(tmp_path / 'pr'))
