# References: the 17-keypoint PoseTrack layout (Andriluka et al., CVPR 2018),
# as used by PoseTrack17 (converted to COCO style), PoseTrack18 and
# PoseTrack21.  Same names, order, flip pairs, joint weights and OKS sigmas
# as MMPose's ``configs/_base_/datasets/posetrack18.py`` (checked by
# tests/test_datasets/test_metainfo.py).  The ears (3, 4) are part of the
# layout but never annotated in PoseTrack.
_centre = [51, 153, 255]
_left = [0, 255, 0]
_right = [255, 128, 0]

dataset_info = dict(
    dataset_name='posetrack18',
    paper_info=dict(
        author='Andriluka, Mykhaylo and Iqbal, Umar and '
        'Insafutdinov, Eldar and Pishchulin, Leonid and Milan, Anton and '
        'Gall, Juergen and Schiele, Bernt',
        title='PoseTrack: A benchmark for human pose estimation and '
        'tracking',
        container='CVPR',
        year='2018',
        homepage='https://posetrack.net/',
    ),
    keypoint_info={
        0: dict(name='nose', id=0, color=_centre, type='upper', swap=''),
        1: dict(
            name='head_bottom', id=1, color=_centre, type='upper', swap=''),
        2: dict(name='head_top', id=2, color=_centre, type='upper', swap=''),
        3: dict(
            name='left_ear', id=3, color=_centre, type='upper',
            swap='right_ear'),
        4: dict(
            name='right_ear', id=4, color=_centre, type='upper',
            swap='left_ear'),
        5: dict(
            name='left_shoulder', id=5, color=_left, type='upper',
            swap='right_shoulder'),
        6: dict(
            name='right_shoulder', id=6, color=_right, type='upper',
            swap='left_shoulder'),
        7: dict(
            name='left_elbow', id=7, color=_left, type='upper',
            swap='right_elbow'),
        8: dict(
            name='right_elbow', id=8, color=_right, type='upper',
            swap='left_elbow'),
        9: dict(
            name='left_wrist', id=9, color=_left, type='upper',
            swap='right_wrist'),
        10: dict(
            name='right_wrist', id=10, color=_right, type='upper',
            swap='left_wrist'),
        11: dict(
            name='left_hip', id=11, color=_left, type='lower',
            swap='right_hip'),
        12: dict(
            name='right_hip', id=12, color=_right, type='lower',
            swap='left_hip'),
        13: dict(
            name='left_knee', id=13, color=_left, type='lower',
            swap='right_knee'),
        14: dict(
            name='right_knee', id=14, color=_right, type='lower',
            swap='left_knee'),
        15: dict(
            name='left_ankle', id=15, color=_left, type='lower',
            swap='right_ankle'),
        16: dict(
            name='right_ankle', id=16, color=_right, type='lower',
            swap='left_ankle'),
    },
    skeleton_info={
        0: dict(link=('left_ankle', 'left_knee'), id=0, color=_left),
        1: dict(link=('left_knee', 'left_hip'), id=1, color=_left),
        2: dict(link=('right_ankle', 'right_knee'), id=2, color=_right),
        3: dict(link=('right_knee', 'right_hip'), id=3, color=_right),
        4: dict(link=('left_hip', 'right_hip'), id=4, color=_centre),
        5: dict(link=('left_shoulder', 'left_hip'), id=5, color=_centre),
        6: dict(link=('right_shoulder', 'right_hip'), id=6, color=_centre),
        7: dict(
            link=('left_shoulder', 'right_shoulder'), id=7, color=_centre),
        8: dict(link=('left_shoulder', 'left_elbow'), id=8, color=_left),
        9: dict(link=('right_shoulder', 'right_elbow'), id=9, color=_right),
        10: dict(link=('left_elbow', 'left_wrist'), id=10, color=_left),
        11: dict(link=('right_elbow', 'right_wrist'), id=11, color=_right),
        12: dict(link=('nose', 'head_bottom'), id=12, color=_centre),
        13: dict(link=('nose', 'head_top'), id=13, color=_centre),
        14: dict(
            link=('head_bottom', 'left_shoulder'), id=14, color=_centre),
        15: dict(
            link=('head_bottom', 'right_shoulder'), id=15, color=_centre),
    },
    # elbows/knees 1.2, wrists/ankles 1.5, the rest 1.0
    joint_weights=[1.0] * 7 + [1.2, 1.2, 1.5, 1.5] + [1.0, 1.0] +
    [1.2, 1.2, 1.5, 1.5],
    # COCO body sigmas; nose and the two head points as in MMPose
    sigmas=[
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
        0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089
    ])
