# GLSMamba-B on Sub-JHMDB split 1 (paper: 97.9 mean PCK over the three
# splits; average them with tools/eval_jhmdb_splits.py).  15 joints;
# 256x192 crops as for PoseTrack (the paper does not give JHMDB's size).
_base_ = ['./stmamba_posetrack18.py']

data_root = 'data/jhmdb/'

model = dict(head=dict(out_channels=15))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='JhmdbClipDataset',
        split=1,
        data_root=data_root,
        data_prefix=dict(img=''),
        frame_offsets={{_base_.frame_offsets}},
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='JhmdbClipDataset',
        split=1,
        data_root=data_root,
        data_prefix=dict(img=''),
        frame_offsets={{_base_.frame_offsets}},
        test_mode=True,
        pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True, type='JhmdbPCKMetric', thr=0.2,
    norm_item=['bbox', 'torso'])
test_evaluator = val_evaluator

default_hooks = dict(checkpoint=dict(save_best='jhmdb/PCK'))
