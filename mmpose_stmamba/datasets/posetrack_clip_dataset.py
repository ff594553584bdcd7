"""PoseTrack17/18/21 clip data set (17-keypoint PoseTrack layout).

References: PoseTrack (Andriluka et al., CVPR 2018) and PoseTrack21 (Doering
et al., CVPR 2022) in the COCO-style JSON that MMPose and PoseWarper use
(``images`` with ``file_name``, ``nframes``, ``frame_id``, ``vid_id``,
``is_labeled``, ``ignore_regions_x/y``; ``annotations`` with 17 x (x, y, v)
keypoints).  One class with a ``version`` argument instead of three
version-named classes (docs/STYLE.md); the version only records which data
set this is, because frame naming is decided per video from the disk.
"""
from mmpose.registry import DATASETS

from .base_clip_dataset import BaseClipDataset
from .metainfo import metainfo_file

VERSIONS = ('17', '18', '21')


@DATASETS.register_module()
class PoseTrackClipDataset(BaseClipDataset):
    """PoseTrack video data set: top-down person instances with clips.

    Layout (see docs/data.md): ``data_root`` holds ``images/<split>/<video>/``
    and the annotation JSON (``ann_file``: a merged file such as
    ``annotations/posetrack18_val.json``, or a folder of per-video files as
    PoseTrack21 ships them).  ``file_name`` values are relative to
    ``data_root`` + ``data_prefix['img']``.  PoseTrack17 frames are
    ``%08d.jpg`` starting at 1, PoseTrack18/21 frames ``%06d.jpg`` starting
    at 0; each video's naming is read from its folder, and only when the
    folder has neither frame 0 nor frame 1 does the digit count decide
    (8 digits: first frame 1, else 0).

    Data info keys (one per person instance): ``img_id``, ``img_path``
    (key frame), ``frame_paths`` (T paths), ``frame_offsets``,
    ``frame_indices``, ``frame_index`` (key frame number from its file
    name), ``frame_id``, ``nframes``, ``vid_id``, ``video_name``,
    ``ignore_regions`` (list of (n, 2) polygons), ``ori_shape``, ``bbox``
    (1, 4) xyxy, ``bbox_score`` (1,), ``keypoints`` (1, K, 2),
    ``keypoints_visible`` (1, K), ``id`` (annotation id, or a running
    number for detections), ``category_id``; for ground truth also
    ``num_keypoints``, ``area``, ``iscrowd``, ``track_id``,
    ``raw_ann_info`` and, when the annotation has ``occluded``,
    ``keypoints_occluded`` (1, K).

    Args:
        version (str | int): ``'17'``, ``'18'`` or ``'21'``.
            Defaults to ``'18'``.
        **kwargs: See :class:`~mmpose_stmamba.datasets.BaseClipDataset`.
    """

    METAINFO: dict = dict(from_file=metainfo_file('posetrack18'))

    def __init__(self, version='18', **kwargs):
        version = str(version)
        if version not in VERSIONS:
            raise ValueError(
                f'version must be one of {VERSIONS}, got {version!r}')
        self.version = version
        super().__init__(**kwargs)

    @staticmethod
    def first_index_convention(digits: int) -> int:
        """PoseTrack17 (8 digits) counts from 1, PoseTrack18/21 from 0."""
        return 1 if digits == 8 else 0
