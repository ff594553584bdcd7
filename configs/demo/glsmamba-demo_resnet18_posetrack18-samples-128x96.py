# `make demo`: a small GLSMamba trained and tested on the real annotated
# PoseTrack18 sample clips bundled in tests/data/posetrack18 (3 key frames,
# 14 persons, ground-truth boxes), on 2 CPU cores in a few minutes.
#
# It overfits 14 persons on purpose: a high PoseTrack mAP on the clips it
# trained on proves that the data -> target -> model -> decode -> metric
# path is wired right, nothing more.  It says nothing about accuracy on
# unseen video.
#
# The real pipeline (LoadClipFrames, one affine for all frames,
# PackClipInputs, ClipPoseDataPreprocessor), the real estimator and neck
# (GSM + LRM blocks) and the real metric (PoseTrackMAP), with a small
# trainable encoder instead of the frozen ViTPose-B, whose weights cannot be
# downloaded here: MMPose's ResNet-18 cut after its second stage, stride 8
# (the neck's pure-PyTorch scans cost ~4x more on the 1/4-resolution
# features of the paper: 6.2 s vs 1.7 s per batch of 7 clips on one busy
# core), no pretrained weights, and MMPose's HeatmapHead with one 4x4
# deconvolution back to 1/4 resolution (32x24 heatmaps).  The sample
# frames have no neighbours on disk, so every supporting frame falls back
# to the key frame (LoadClipFrames, missing='nearest';
# MissingFrameReportHook counts them).
#
# References: the layout follows MMPose's top-down configs
# (configs/body_2d_keypoint/topdown_heatmap/...); sizes are ours.

custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)
_base_ = ['mmpose::_base_/default_runtime.py']

# relative to this file, so the config works from any working directory
data_root = '{{ fileDirname }}/../../tests/data/posetrack18/'
ann_file = 'annotations/test_posetrack18_val.json'

input_size = (96, 128)  # (w, h)
heatmap_size = (24, 32)
frame_offsets = (-2, -1, 0, 1, 2)
num_frames = len(frame_offsets)
encoder_channels = 32
embed_dims = 32

codec = dict(
    type='MSRAHeatmap',
    input_size=input_size,
    heatmap_size=heatmap_size,
    sigma=2)

model = dict(
    type='VideoTopdownPoseEstimator',
    data_preprocessor=dict(
        type='ClipPoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=encoder_channels,
        base_channels=encoder_channels // 2,
        num_stages=2,
        strides=(1, 2),
        dilations=(1, 1),
        out_indices=(1, )),
    freeze_encoder=False,
    neck=dict(
        type='GLSMambaNeck',
        in_channels=encoder_channels,
        embed_dims=embed_dims,
        num_frames=num_frames,
        num_gsm=1,
        num_lrm=1,
        gsm_cfg=dict(
            d_state=8,
            scans=('unified', 'spatial', 'temporal'),
            merge='stmm',
            channel_attention=True,
            stmm_cfg=dict(impl='auto', groups=4)),
        lrm_cfg=dict(window=(8, 6), d_state=8)),
    head=dict(
        type='HeatmapHead',
        in_channels=embed_dims,
        out_channels=17,
        deconv_out_channels=(embed_dims, ),
        deconv_kernel_sizes=(4, ),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    # memorising 14 persons is the point: no flip test (no flip in training)
    test_cfg=dict(flip_test=False))

# No random augmentation (RandomFlip, RandomBBoxTransform): the demo has to
# memorise 14 persons in a few minutes of CPU (with them, 60 epochs reached
# 50 mAP; without, 80 epochs reach ~98).
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=input_size),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackClipInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=input_size),
    dict(type='PackClipInputs'),
]

dataset = dict(
    type='PoseTrackClipDataset',
    data_root=data_root,
    ann_file=ann_file,
    data_prefix=dict(img=''),
    frame_offsets=frame_offsets)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=14,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PoseTrackMAP', ann_file=data_root + ann_file)
test_evaluator = val_evaluator

max_epochs = 80
train_cfg = dict(
    _delete_=True,
    type='ResumableEpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min=3e-5),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=7),
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=2,
        save_best='posetrack/AP',
        rule='greater'),
    visualization=dict(type='PoseVisualizationHook', enable=False))
custom_hooks = [dict(type='MissingFrameReportHook')]
randomness = dict(seed=0)
