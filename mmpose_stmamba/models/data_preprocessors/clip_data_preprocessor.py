"""Data preprocessor for clips: (T, 3, H, W) uint8 BGR -> (B, T, 3, H, W).

References:
    * MMPose ``PoseDataPreprocessor`` / MMEngine ``ImgDataPreprocessor``:
      BGR->RGB, mean/std normalisation, ``batch_input_shape`` and
      ``pad_shape`` in the metainfo, optional batch augments.  Their
      per-image code asserts a (3, H, W) input, hence this subclass, which
      does the same per frame of a clip.
"""
from typing import List, Optional, Sequence

import torch
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS


@MODELS.register_module()
class ClipPoseDataPreprocessor(PoseDataPreprocessor):
    """Normalise and batch clips.

    Every clip of a batch must have the same (T, H, W) (top-down crops
    do); padding is not supported.

    Args:
        mean (Sequence[float], optional): Per-channel mean (R, G, B after
            conversion). Defaults to None (no normalisation).
        std (Sequence[float], optional): Per-channel std. Defaults to None.
        bgr_to_rgb (bool): Reverse the channel dim. Defaults to False.
        rgb_to_bgr (bool): Same reversal. Defaults to False.
        non_blocking (bool): Non-blocking device copy. Defaults to False.
        batch_augments (list[dict], optional): Batch augments (training).
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: Optional[bool] = False,
                 batch_augments: Optional[List[dict]] = None):
        super().__init__(
            mean=mean,
            std=std,
            bgr_to_rgb=bgr_to_rgb,
            rgb_to_bgr=rgb_to_bgr,
            non_blocking=non_blocking,
            batch_augments=batch_augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise a batch of clips.

        Args:
            data (dict): ``inputs``: list of B tensors (T, 3, H, W) (or one
                (B, T, 3, H, W) tensor); ``data_samples``: list of B
                :obj:`PoseDataSample`.
            training (bool): Apply batch augments. Defaults to False.

        Returns:
            dict: ``inputs`` (B, T, 3, H, W) float, ``data_samples``.
        """
        data = self.cast_data(data)
        inputs, data_samples = data['inputs'], data.get('data_samples')
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.stack(list(inputs))
        if inputs.dim() != 5 or inputs.shape[2] != 3:
            raise ValueError('ClipPoseDataPreprocessor expects clips of '
                             f'shape (T, 3, H, W), got {tuple(inputs.shape)}')
        if self._channel_conversion:
            inputs = inputs.flip(2)  # BGR <-> RGB on the channel dim
        inputs = inputs.float()
        if self._enable_normalize:
            inputs = (inputs - self.mean) / self.std  # (3, 1, 1) broadcast
        shape = tuple(inputs.shape[-2:])
        for sample in data_samples or []:
            sample.set_metainfo({
                'batch_input_shape': shape,
                'pad_shape': shape
            })
        if training and self.batch_augments is not None:
            for augment in self.batch_augments:
                inputs, data_samples = augment(inputs, data_samples)
        return {'inputs': inputs, 'data_samples': data_samples}
