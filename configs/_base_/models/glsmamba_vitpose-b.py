# GLSMamba-B: frozen ViTPose-B (+ its two deconvolutions) per frame, the
# GLSMamba neck (4 GSM + 2 LRM blocks) on the 5-frame clip, a key-frame
# heatmap head.  Sizes chosen for the paper's budget (9.8M trainable
# parameters, 138.9 GFLOPs per clip): see docs/model.md.

# MMPose model zoo, ViTPose-B COCO 256x192 (75.7 AP), classic decoder:
vitpose_checkpoint = (
    'https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
    'topdown_heatmap/coco/td-hm_ViTPose-base_8xb64-210e_coco-256x192-'
    '216eae50_20230314.pth')

num_frames = 5
embed_dims = 192

# 256x192 crops -> 64x48 heatmaps, sigma 3 (METHOD.md Sec. 4); UDP as
# ViTPose was trained with it (pair with TopdownAffine(use_udp=True)).
codec = dict(
    type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=3)

model = dict(
    type='VideoTopdownPoseEstimator',
    data_preprocessor=dict(
        type='ClipPoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    # ViTPose-B backbone exactly as MMPose's
    # td-hm_ViTPose-base_8xb64-210e_coco-256x192.py configures it
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=(256, 192),
        patch_size=16,
        qkv_bias=True,
        drop_path_rate=0.3,
        with_cls_token=False,
        out_type='featmap',
        patch_cfg=dict(padding=2),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=vitpose_checkpoint,
            prefix='backbone.')),
    # the two 4x4 stride-2 deconvs of ViTPose's heatmap head
    encoder_neck=dict(
        type='ViTPoseDeconvNeck',
        in_channels=768,
        out_channels=(256, 256),
        kernel_sizes=(4, 4),
        init_cfg=dict(
            type='Pretrained', checkpoint=vitpose_checkpoint,
            prefix='head.')),
    freeze_encoder=True,
    neck=dict(
        type='GLSMambaNeck',
        in_channels=256,
        embed_dims=embed_dims,
        num_frames=num_frames,
        num_gsm=4,
        num_lrm=2,
        gsm_cfg=dict(
            expansion=1.,
            d_state=16,
            dt_rank='auto',
            ffn_ratio=2.,
            se_reduction=1.,
            scans=('unified', 'spatial', 'temporal'),
            merge='stmm',
            channel_attention=True,
            stmm_cfg=dict(impl='auto', groups=4)),
        lrm_cfg=dict(
            window=(8, 6), expansion=1., d_state=16, ffn_ratio=2.),
        drop_path_rate=0.1),
    head=dict(
        type='VideoHeatmapHead',
        in_channels=embed_dims,
        out_channels=17,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False))
