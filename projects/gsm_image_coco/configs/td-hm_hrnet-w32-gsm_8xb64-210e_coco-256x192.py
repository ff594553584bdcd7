# MMPose's stock HRNet-W32 COCO top-down model (TopdownPoseEstimator, single
# images) with two GSM blocks as a neck between backbone and head, run as
# clips of one frame.  Only the neck and the imports are new; everything
# else (backbone, head, codec, data, schedule, evaluation) is the stock
# config.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
]

# ``projects.gsm_image_coco.models`` registers the adapter neck; it imports
# when the repository root is on PYTHONPATH (see the project's README).
custom_imports = dict(
    imports=['mmpose_stmamba', 'projects.gsm_image_coco.models'],
    allow_failed_imports=False)

# HRNet-W32's last map: 32 channels at 1/4 resolution (64x48).  With T = 1
# the unified, spatial and temporal scans visit the tokens in the same
# (raster) order, so one scan type (forward + reversed) is enough; the
# spatial deformable merge and the channel attention (a squeeze-excitation
# over the 32 channels at T = 1) are kept.
gsm_block = dict(
    type='GSMBlock',
    channels=32,
    num_frames=1,
    scans=('spatial', ),
    merge='stmm',
    channel_attention=True)

model = dict(
    neck=dict(type='SingleFrameClipNeck', blocks=[gsm_block, gsm_block]))
