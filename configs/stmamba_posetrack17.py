# GLSMamba-B on PoseTrack2017 (paper: 86.9 mAP val).  The 17-keypoint
# COCO-style conversion of PoseWarper/DCPose (docs/data.md); frames
# %08d.jpg counted from 1; evaluated with poseval's definition.
_base_ = ['./stmamba_posetrack18.py']

data_root = 'data/posetrack17/'

train_dataloader = dict(
    dataset=dict(
        version='17',
        data_root=data_root,
        ann_file='annotations/posetrack17_train.json'))
val_dataloader = dict(
    dataset=dict(
        version='17',
        data_root=data_root,
        ann_file='annotations/posetrack17_val.json',
        bbox_file='data/posetrack17/val_boxes.json'))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='PoseTrackMAP',
    ann_file=data_root + 'annotations/posetrack17_val.json',
    protocol='posetrack18')
test_evaluator = val_evaluator
