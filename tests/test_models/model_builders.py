"""Builders shared by the model tests: tiny configs, packed batches."""
import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.structures import PoseDataSample

NUM_KEYPOINTS = 5


def tiny_estimator_cfg(num_frames=5, freeze_encoder=True, flip_test=False):
    """A small VideoTopdownPoseEstimator: a 2-layer ViT (64x48 crops,
    4x3 tokens) + ViTPose deconvs (-> 16x12) + a small GLSMamba neck."""
    codec = dict(
        type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
        sigma=2)
    return dict(
        type='VideoTopdownPoseEstimator',
        data_preprocessor=dict(
            type='ClipPoseDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch=dict(
                embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64),
            img_size=(64, 48),
            patch_size=16,
            qkv_bias=True,
            drop_path_rate=0.3,
            with_cls_token=False,
            out_type='featmap',
            patch_cfg=dict(padding=2)),
        encoder_neck=dict(
            type='ViTPoseDeconvNeck', in_channels=32, out_channels=(16, 16),
            kernel_sizes=(4, 4)),
        freeze_encoder=freeze_encoder,
        neck=dict(
            type='GLSMambaNeck',
            in_channels=16,
            embed_dims=16,
            num_frames=num_frames,
            num_gsm=1,
            num_lrm=1,
            lrm_cfg=dict(window=(4, 3))),
        head=dict(
            type='VideoHeatmapHead',
            in_channels=16,
            out_channels=NUM_KEYPOINTS,
            decoder=codec),
        test_cfg=dict(
            flip_test=flip_test, flip_mode='heatmap', shift_heatmap=False))


def make_samples(batch_size, num_frames=5, input_size=(48, 64),
                 heatmap_size=(12, 16), frame_offsets=None, seed=0):
    """Packed data samples as PackClipInputs would give them."""
    rng = np.random.RandomState(seed)
    w, h = heatmap_size
    samples = []
    for i in range(batch_size):
        sample = PoseDataSample()
        meta = dict(
            id=i,
            img_id=i,
            img_path=f'frame_{i}.jpg',
            input_size=np.array(input_size),
            input_center=np.array([100., 80.]) + i,
            input_scale=np.array([96., 128.]),
            flip_indices=[0, 2, 1, 4, 3])
        if frame_offsets is not None:
            meta['frame_offsets'] = frame_offsets
        sample.set_metainfo(meta)
        sample.gt_fields = PixelData(
            heatmaps=torch.from_numpy(
                rng.rand(NUM_KEYPOINTS, h, w).astype(np.float32)))
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=torch.ones(1, NUM_KEYPOINTS))
        sample.gt_instances = InstanceData(
            bboxes=np.array([[50., 20., 150., 140.]]),
            bbox_scores=np.ones(1))
        samples.append(sample)
    return samples


def make_clips(batch_size, num_frames=5, size=(64, 48), seed=0):
    """Raw uint8 BGR clips, one (T, 3, H, W) tensor per sample."""
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 256, (num_frames, 3) + tuple(size), generator=gen,
                      dtype=torch.uint8) for _ in range(batch_size)
    ]
