# GLSMamba-H on PoseTrack18 (paper: 84.9 mAP val): the B config with the
# frozen ViTPose-H encoder; the GLSMamba neck is unchanged.
_base_ = [
    './stmamba_posetrack18.py', './_base_/models/vitpose-h_encoder.py'
]

model = {{_base_.vitpose_h_encoder}}
