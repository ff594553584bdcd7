# GSM blocks only (no LRM) on a frozen ResNet-50 SimpleBaseline encoder,
# PoseTrack18, 3-frame clips (offsets -1, 0, 1).  Everything not redefined
# here (schedule, codec, augmentation, runtime) is MMPose's stock
# single-frame config:
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/posetrack18/'
    'td-hm_res50_8xb64-20e_posetrack18-256x192.py'
]

custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)

# MMPose model zoo, SimpleBaseline ResNet-50 fine-tuned on PoseTrack18
# (single frame, 256x192; an MMPose 0.x checkpoint, so the head's weights
# sit under ``keypoint_head.``).  Its backbone and its three deconvolutions
# form the frame encoder.
encoder_checkpoint = ('https://download.openmmlab.com/mmpose/top_down/resnet/'
                      'res50_posetrack18_256x192-a62807c7_20201028.pth')

frame_offsets = (-1, 0, 1)
num_frames = len(frame_offsets)
embed_dims = 192

# The stock config fine-tunes a whole COCO model through ``load_from``; here
# the encoder is loaded through its init_cfg, the rest is new.
load_from = None

codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(
    type='VideoTopdownPoseEstimator',
    data_preprocessor=dict(type='ClipPoseDataPreprocessor'),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=encoder_checkpoint,
            prefix='backbone.')),
    # SimpleBaseline's three 4x4 deconvolutions (2048 -> 256 channels,
    # 1/32 -> 1/4 resolution), taken out of its heatmap head so that the
    # temporal neck sees 64x48 maps; same layer layout as ViTPose's stage.
    encoder_neck=dict(
        type='ViTPoseDeconvNeck',
        in_channels=2048,
        out_channels=(256, 256, 256),
        kernel_sizes=(4, 4, 4),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=encoder_checkpoint,
            prefix='keypoint_head.')),
    freeze_encoder=True,
    # global blocks only: 4 GSM, no LRM; the temporal embedding and the
    # channel attention get 3 frame slots
    neck=dict(
        type='GLSMambaNeck',
        in_channels=256,
        embed_dims=embed_dims,
        num_frames=num_frames,
        num_gsm=4,
        num_lrm=0,
        drop_path_rate=0.1),
    head=dict(
        _delete_=True,
        type='VideoHeatmapHead',
        in_channels=embed_dims,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))

dataset_type = 'PoseTrackClipDataset'
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackClipInputs')
]
val_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackClipInputs')
]

# 3 frames per sample: 32 clips per GPU instead of 64 images (not tuned)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        type=dataset_type,
        frame_offsets=frame_offsets,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type, frame_offsets=frame_offsets, pipeline=val_pipeline))
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=256)

# poseval-free PoseTrack18 AP (the stock PoseTrack18Metric needs poseval,
# which is not on PyPI); its result keys are ``posetrack/...``
val_evaluator = dict(
    _delete_=True,
    type='PoseTrackMAP',
    ann_file='data/posetrack18/annotations/posetrack18_val.json')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='posetrack/AP'))

custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='MissingFrameReportHook')
]
