# Temporal-evidence benchmark (tools/temporal_evidence.py): the GSM+LRM
# variant (c) at the default size.  The tool loads this file, then edits
# the clip length, the neck and the schedule per variant and per size
# (--tiny); every variant keeps the same encoder, head and schedule.
#
# Encoder: a small trainable ResNet-18 cut after its second stage, both
# stages at stride 1, so that it keeps the stem's 1/4 resolution (like the
# paper's 64x48 features for 256x192 crops) with a ~75 px receptive field;
# no pretrained weights (none can be downloaded here, and the point is to
# compare the temporal blocks, not the encoder).
# Neck: GLSMamba with 2 GSM + 1 LRM blocks of width 64.

custom_imports = dict(imports=['mmpose_stmamba'], allow_failed_imports=False)
default_scope = 'mmpose'

data_root = 'data/synth'  # replaced by the tool
input_size = (96, 128)  # (w, h)
heatmap_size = (24, 32)
frame_offsets = (-2, -1, 0, 1, 2)
num_frames = len(frame_offsets)
embed_dims = 64
encoder_channels = 64

codec = dict(
    type='MSRAHeatmap',
    input_size=input_size,
    heatmap_size=heatmap_size,
    sigma=1.5)

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
        stem_channels=32,
        base_channels=32,
        num_stages=2,
        strides=(1, 1),
        dilations=(1, 1),
        out_indices=(1, )),
    freeze_encoder=False,
    neck=dict(
        type='GLSMambaNeck',
        in_channels=encoder_channels,
        embed_dims=embed_dims,
        num_frames=num_frames,
        num_gsm=2,
        num_lrm=1,
        gsm_cfg=dict(
            d_state=8,
            scans=('unified', 'spatial', 'temporal'),
            merge='stmm',
            channel_attention=True,
            stmm_cfg=dict(impl='auto', groups=4)),
        lrm_cfg=dict(window=(8, 6), d_state=8)),
    head=dict(
        type='VideoHeatmapHead',
        in_channels=embed_dims,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=False))

# No flip augmentation: the synthetic figures colour their left and right
# limbs differently, and a mirrored crop would contradict its labels.
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.08,
        scale_factor=(0.85, 1.15),
        rotate_factor=15),
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

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='PoseTrackClipDataset',
        data_root=data_root,
        ann_file='annotations/posetrack18_train.json',
        data_prefix=dict(img=''),
        frame_offsets=frame_offsets,
        pipeline=train_pipeline))
# ground-truth boxes at test time: the benchmark measures localisation
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='PoseTrackClipDataset',
        data_root=data_root,
        ann_file='annotations/posetrack18_val.json',
        data_prefix=dict(img=''),
        frame_offsets=frame_offsets,
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(
    type='PoseTrackMAP',
    ann_file=data_root + '/annotations/posetrack18_val.json')
test_cfg = dict()

max_iters = 800
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters + 1)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         eta_min=2e-5),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1, save_last=False),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = []
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)  # replaced per run by the tool
