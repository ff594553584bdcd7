"""Sub-JHMDB clip data set (15 puppet joints, splits 1-3).

References: JHMDB (Jhuang et al., ICCV 2013) in the COCO-style JSON of
MMPose's ``JhmdbDataset`` (``annotations/Sub{1,2,3}_{train,test}.json``,
frames ``Rename_Images/<action>/<clip>/%05d.png`` counted from 1).  Like
MMPose we subtract 1 from the MATLAB 1-based box and keypoint coordinates.
"""
from typing import Optional

from mmpose.registry import DATASETS

from .base_clip_dataset import BaseClipDataset
from .metainfo import metainfo_file


@DATASETS.register_module()
class JhmdbClipDataset(BaseClipDataset):
    """Sub-JHMDB video data set: one person per frame, with its clip.

    Frames are ``<data_root>/<data_prefix.img>/<file_name>``; in the
    official conversion ``file_name`` starts with ``Rename_Images/<action>/``
    (the bundled test sample drops that prefix, so it is not hard-coded).
    Data info keys are those of
    :class:`~mmpose_stmamba.datasets.PoseTrackClipDataset`; in Sub-JHMDB all
    15 joints are labelled (v = 2), including joints outside the frame,
    which ``kpt_outside='keep'`` (the default) keeps so that PCK stays
    comparable with MMPose.

    Args:
        split (int, optional): 1, 2 or 3.  When given and ``ann_file`` is
            empty, ``ann_file`` becomes ``annotations/Sub<split>_test.json``
            in test mode, else ``annotations/Sub<split>_train.json``.
            Defaults to None.
        **kwargs: See :class:`~mmpose_stmamba.datasets.BaseClipDataset`.
    """

    METAINFO: dict = dict(from_file=metainfo_file('jhmdb'))
    COORD_SHIFT = 1.0

    def __init__(self, split: Optional[int] = None, **kwargs):
        if split is not None:
            if split not in (1, 2, 3):
                raise ValueError(f'split must be 1, 2 or 3, got {split!r}')
            if not kwargs.get('ann_file'):
                part = 'test' if kwargs.get('test_mode') else 'train'
                kwargs['ann_file'] = f'annotations/Sub{split}_{part}.json'
        self.split = split
        super().__init__(**kwargs)

    @staticmethod
    def first_index_convention(digits: int) -> int:
        """JHMDB frames count from 1."""
        return 1
