# The frozen ViTPose-H encoder of GLSMamba-H: what changes against the
# ViTPose-B encoder of glsmamba_vitpose-b.py.  A GLSMamba-H config lists
# this file among its bases and sets `model = {{_base_.vitpose_h_encoder}}`.

# MMPose model zoo, ViTPose-H COCO 256x192 (78.8 AP), classic decoder:
vitpose_h_checkpoint = (
    'https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
    'topdown_heatmap/coco/td-hm_ViTPose-huge_8xb64-210e_coco-256x192-'
    'e32adcd4_20230314.pth')

# ViT-H/16 exactly as MMPose's td-hm_ViTPose-huge_8xb64-210e_coco-256x192.py
vitpose_h_encoder = dict(
    backbone=dict(
        arch='huge',
        drop_path_rate=0.55,
        init_cfg=dict(checkpoint=vitpose_h_checkpoint)),
    encoder_neck=dict(
        in_channels=1280, init_cfg=dict(checkpoint=vitpose_h_checkpoint)))
