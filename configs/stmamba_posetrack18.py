# GLSMamba-B on PoseTrack18: 5-frame clips (offsets -2..2) of 256x192
# person crops, heatmaps 64x48 (sigma 3), frozen ViTPose-B encoder.
# Paper (ICCV 2025): 84.2 mAP on PoseTrack18 val.  Data layout:
# docs/data.md; model and budget: docs/model.md.
_base_ = [
    './_base_/default_runtime.py', './_base_/schedules/adamw_20e.py',
    './_base_/models/glsmamba_vitpose-b.py'
]

codec = _base_.codec

# MMEngine's stock epoch loop repeats an interrupted epoch on --resume; this
# one continues at the iteration where the run stopped (same schedule).
train_cfg = dict(
    _delete_=True,
    type='ResumableEpochBasedTrainLoop',
    max_epochs=20,
    val_interval=4)
frame_offsets = (-2, -1, 0, 1, 2)

# base dataset settings
dataset_type = 'PoseTrackClipDataset'
data_root = 'data/posetrack18/'

# pipelines: one flip / one affine for every frame of the clip; targets of
# the key frame (paper: random rotation, scaling, half-body, flipping)
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackClipInputs')
]
val_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackClipInputs')
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        version='18',
        data_root=data_root,
        ann_file='annotations/posetrack18_train.json',
        data_prefix=dict(img=''),
        frame_offsets=frame_offsets,
        pipeline=train_pipeline))
# person detections as in the DCPose lineage (PoseWarper's val boxes);
# drop bbox_file to evaluate with ground-truth boxes
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        version='18',
        data_root=data_root,
        ann_file='annotations/posetrack18_val.json',
        bbox_file='data/posetrack18/val_boxes.json',
        data_prefix=dict(img=''),
        frame_offsets=frame_offsets,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='PoseTrackMAP',
    ann_file=data_root + 'annotations/posetrack18_val.json')
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(save_best='posetrack/AP', rule='greater',
                    max_keep_ckpts=1))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='MissingFrameReportHook')
]
