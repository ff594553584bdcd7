"""Pack a clip sample: inputs (T, 3, H, W) plus clip metainfo.

References: reuses MMPose's ``PackPoseInputs`` (its ``image_to_tensor``
stacks a list of frames to (T, C, H, W)); adds the clip keys of
docs/design.md to the default ``meta_keys`` and makes a single image a
one-frame clip so that every sample has the same rank.
"""
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS

#: MMPose's default meta keys plus the clip / video keys of our data sets
CLIP_META_KEYS = ('id', 'img_id', 'img_path', 'category_id', 'crowd_index',
                  'ori_shape', 'img_shape', 'input_size', 'input_center',
                  'input_scale', 'flip', 'flip_direction', 'flip_indices',
                  'raw_ann_info', 'dataset_name', 'frame_offsets',
                  'frame_paths', 'frame_indices', 'frame_index', 'frame_id',
                  'nframes', 'vid_id', 'video_name', 'track_id',
                  'ignore_regions', 'missing_frames')


@TRANSFORMS.register_module()
class PackClipInputs(PackPoseInputs):
    """``PackPoseInputs`` for clips: ``inputs`` is (T, 3, H, W).

    The dtype of the frames is kept (uint8 BGR from
    :class:`LoadClipFrames`); normalisation is the data preprocessor's job.
    Targets (heatmaps, keypoint weights) are those of the key frame, as
    ``GenerateTarget`` encodes the key frame's keypoints only.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's
            metainfo when present. Defaults to :data:`CLIP_META_KEYS`.
        pack_transformed (bool): Also pack ``transformed_keypoints``.
            Defaults to False.
    """

    def __init__(self, meta_keys=CLIP_META_KEYS, pack_transformed=False):
        super().__init__(
            meta_keys=meta_keys, pack_transformed=pack_transformed)

    def transform(self, results: dict) -> dict:
        """Pack; a single image becomes a clip of one frame."""
        if 'img' in results and not isinstance(results['img'], (list, tuple)):
            results = dict(results, img=[results['img']])
        packed = super().transform(results)
        inputs = packed['inputs']
        if inputs.dim() != 4:
            raise ValueError('PackClipInputs expects frames of shape '
                             f'(H, W, C); packed {tuple(inputs.shape)}')
        return packed
