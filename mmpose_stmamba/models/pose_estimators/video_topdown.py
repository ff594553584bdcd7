"""Top-down pose estimator over clips: frozen per-frame encoder, temporal
neck, key-frame heatmap head.

References:
    * GLSMamba (Feng et al., ICCV 2025), Sec. 3.1: a frozen COCO-trained
      ViTPose (+ its deconvolutions) encodes each frame of the clip centred
      on the key frame; the GLSMamba neck mixes the clip; the head predicts
      the key frame's heatmaps.
    * MMPose ``TopdownPoseEstimator``: ``loss``/``predict``/``_forward``,
      flip test by flipping the input width, mapping predictions from input
      to image coordinates (``add_pred_to_datasample``, inherited).

Key frame index, per sample: ``frame_offsets.index(0)`` from the data
sample's metainfo, else the ``key_index`` argument, else T // 2 (the
contract of docs/design.md).
"""
import contextlib
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, SampleList
from torch import Tensor


@MODELS.register_module()
class VideoTopdownPoseEstimator(TopdownPoseEstimator):
    """Video top-down pose estimator for clips (B, T, 3, H, W).

    Args:
        backbone (dict): Per-frame encoder backbone (any MMPose backbone).
        encoder_neck (dict, optional): Per-frame neck after the backbone
            (e.g. :class:`ViTPoseDeconvNeck`). Defaults to None.
        neck (dict, optional): Temporal neck taking a tuple whose last
            tensor is (B, T, C, H, W) and returning (B, T, D, H, W).
            Defaults to None (the head sees the encoder's key frame).
        head (dict): Key-frame head (e.g. :class:`VideoHeatmapHead`).
        freeze_encoder (bool): Keep backbone and encoder neck in eval mode,
            without gradients (also after ``model.train()``).
            Defaults to True.
        key_index (int, optional): Key frame index when the data samples
            carry no ``frame_offsets``. Defaults to None (T // 2).
        train_cfg (dict, optional): Training config of the head.
        test_cfg (dict, optional): Test config (``flip_test`` ...).
        data_preprocessor (dict, optional): E.g.
            :class:`ClipPoseDataPreprocessor`.
        init_cfg (dict, optional): Initialisation config.
        metainfo (dict, optional): Dataset meta information.
    """

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 encoder_neck: OptConfigType = None,
                 neck: OptConfigType = None,
                 freeze_encoder: bool = True,
                 key_index: Optional[int] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 metainfo: Optional[dict] = None):
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            metainfo=metainfo)
        self.encoder_neck = MODELS.build(encoder_neck) \
            if encoder_neck is not None else nn.Identity()
        self.key_index = key_index
        self.freeze_encoder = freeze_encoder
        # decided once: the frozen encoder runs without building a graph
        self._encoder_context = torch.no_grad if freeze_encoder else \
            contextlib.nullcontext
        if freeze_encoder:
            for param in self.encoder_parameters():
                param.requires_grad_(False)
            self.train(self.training)

    def encoder_parameters(self):
        """Parameters of the per-frame encoder (backbone + encoder neck)."""
        yield from self.backbone.parameters()
        yield from self.encoder_neck.parameters()

    def train(self, mode: bool = True):
        """Set train mode; a frozen encoder always stays in eval mode (its
        BatchNorm/dropout/drop-path behave as at inference)."""
        super().train(mode)
        if getattr(self, 'freeze_encoder', False):
            self.backbone.eval()
            self.encoder_neck.eval()
        return self

    def encode(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Per-frame encoder, batched over the B * T frames.

        Args:
            inputs (Tensor): (B, T, 3, H, W).

        Returns:
            tuple[Tensor]: Features, each (B, T, C, h, w).
        """
        B, T = inputs.shape[:2]
        with self._encoder_context():
            feats = self.encoder_neck(self.backbone(inputs.flatten(0, 1)))
        return tuple(f.view(B, T, *f.shape[1:]) for f in feats)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Encoder then temporal neck.

        Args:
            inputs (Tensor): (B, T, 3, H, W).

        Returns:
            tuple[Tensor]: Clip features, the last (B, T, D, h, w).
        """
        feats = self.encode(inputs)
        return self.neck(feats) if self.with_neck else feats

    def key_indices(self, num_frames: int,
                    data_samples: Optional[SampleList],
                    batch_size: int) -> list:
        """Key frame index of each sample (see the module docstring)."""
        default = self.key_index if self.key_index is not None else \
            num_frames // 2
        indices = []
        for i in range(batch_size):
            offsets = data_samples[i].metainfo.get('frame_offsets') \
                if data_samples is not None else None
            indices.append(
                list(offsets).index(0) if offsets is not None else default)
        bad = [k for k in indices if not 0 <= k < num_frames]
        if bad:
            raise ValueError(f'key frame index {bad[0]} outside a clip of '
                             f'{num_frames} frames')
        return indices

    def key_frame(self, feats: Sequence[Tensor],
                  data_samples: Optional[SampleList]) -> Tuple[Tensor, ...]:
        """Select each sample's key frame: (B, T, ...) -> (B, ...)."""
        B, T = feats[-1].shape[:2]
        index = torch.as_tensor(
            self.key_indices(T, data_samples, B), device=feats[-1].device)
        batch = torch.arange(B, device=index.device)
        return tuple(f[batch, index] for f in feats)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of a batch of clips (targets of the key frames)."""
        feats = self.key_frame(self.extract_feat(inputs), data_samples)
        return self.head.loss(feats, data_samples, train_cfg=self.train_cfg)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Key-frame poses in image coordinates, as
        ``PoseDataSample.pred_instances``; with ``test_cfg.flip_test`` the
        clip's width is flipped and the heatmaps are averaged."""
        feats = self.key_frame(self.extract_feat(inputs), data_samples)
        if self.test_cfg.get('flip_test', False):
            feats = [
                feats,
                self.key_frame(
                    self.extract_feat(inputs.flip(-1)), data_samples)
            ]
        preds = self.head.predict(feats, data_samples, test_cfg=self.test_cfg)
        instances, fields = preds if isinstance(preds, tuple) else \
            (preds, None)
        return self.add_pred_to_datasample(instances, fields, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[SampleList] = None):
        """Network output (key-frame heatmaps) without post-processing."""
        feats = self.key_frame(self.extract_feat(inputs), data_samples)
        return self.head.forward(feats)
