# GLSMamba-B on PoseTrack21 (paper: 84.1 mAP val).  The official per-video
# files are read directly (a folder as ann_file).  No standard detection
# file exists for PoseTrack21 val: ground-truth boxes are used here; set
# val_dataloader.dataset.bbox_file to evaluate with detections.
_base_ = ['./stmamba_posetrack18.py']

data_root = 'data/posetrack21/'

train_dataloader = dict(
    dataset=dict(
        version='21',
        data_root=data_root,
        ann_file='posetrack_data/train'))
val_dataloader = dict(
    dataset=dict(
        version='21',
        data_root=data_root,
        ann_file='posetrack_data/val',
        bbox_file=None))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='PoseTrackMAP',
    _delete_=True,
    gt_dir=data_root + 'posetrack_data/val',
    protocol='posetrack21')
test_evaluator = val_evaluator
