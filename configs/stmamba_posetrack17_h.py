# GLSMamba-H on PoseTrack17: stmamba_posetrack17.py with the frozen
# ViTPose-H encoder.
_base_ = [
    './stmamba_posetrack17.py', './_base_/models/vitpose-h_encoder.py'
]

model = {{_base_.vitpose_h_encoder}}
