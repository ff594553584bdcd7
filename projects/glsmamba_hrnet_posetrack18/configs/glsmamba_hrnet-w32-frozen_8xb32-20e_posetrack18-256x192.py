# GLSMamba neck (4 GSM + 2 LRM blocks) on a frozen HRNet-W32 frame encoder,
# PoseTrack18, 5-frame clips.  Everything not redefined here (schedule,
# codec, augmentation, runtime) is MMPose's stock single-frame config:
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/posetrack18/'
    'td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192.py'
]

custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)

# MMPose model zoo, HRNet-W32 fine-tuned on PoseTrack18 (single frame,
# 256x192); its ``backbone.*`` weights initialise the frame encoder.
encoder_checkpoint = ('https://download.openmmlab.com/mmpose/top_down/hrnet/'
                      'hrnet_w32_posetrack18_256x192-1ee951c4_20201028.pth')

frame_offsets = (-2, -1, 0, 1, 2)
num_frames = len(frame_offsets)
embed_dims = 192

# The stock config fine-tunes a whole COCO model through ``load_from``; here
# only the backbone is loaded (through its init_cfg), the rest is new.
load_from = None

# the stock codec (MSRAHeatmap 256x192 -> 64x48, sigma 2), named again so
# that the pipelines below can use it
codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(
    type='VideoTopdownPoseEstimator',
    # same mean/std/bgr_to_rgb as the stock PoseDataPreprocessor, per frame
    data_preprocessor=dict(type='ClipPoseDataPreprocessor'),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=encoder_checkpoint,
            prefix='backbone.')),
    # frozen frame encoder: eval mode, no gradients; the ``-trainable``
    # config (or ``--cfg-options model.freeze_encoder=False``) fine-tunes it
    freeze_encoder=True,
    # HRNet-W32 gives 32 channels at 1/4 resolution (64x48), the resolution
    # the GLSMamba neck works at, so no per-frame encoder neck is needed.
    neck=dict(
        type='GLSMambaNeck',
        in_channels=32,
        embed_dims=embed_dims,
        num_frames=num_frames,
        num_gsm=4,
        num_lrm=2,
        drop_path_rate=0.1),
    head=dict(
        _delete_=True,
        type='VideoHeatmapHead',
        in_channels=embed_dims,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))

# clip data: the stock pipelines with clip loading and packing
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

# 5 frames per sample: 32 clips per GPU instead of 64 images (not tuned)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        type=dataset_type,
        frame_offsets=frame_offsets,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
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
