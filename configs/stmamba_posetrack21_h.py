# GLSMamba-H on PoseTrack21: stmamba_posetrack21.py with the frozen
# ViTPose-H encoder.
_base_ = [
    './stmamba_posetrack21.py', './_base_/models/vitpose-h_encoder.py'
]

model = {{_base_.vitpose_h_encoder}}
