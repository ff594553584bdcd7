"""Apply a per-image transform to every frame of a clip, one random draw.

References: docs/design.md asks for one sampled augmentation for all T
frames.  MMPose's own ``RandomFlip`` and ``TopdownAffine`` already take a
list of frames and draw once, and the box transforms (``GetBBoxCenterScale``,
``RandomHalfBody``, ``RandomBBoxTransform``) and ``GenerateTarget`` never
touch the image (tests/test_datasets/test_transforms.py checks this).  Only
image-content transforms such as ``PhotometricDistortion`` or
``Albumentation`` read one image; for them this wrapper replays the same
random stream on every frame, an approach of ours (mmcv's
``cache_random_params`` would reject classes marked
``avoid_cache_randomness``, e.g. MMPose's ``Albumentation``).
"""
import copy
import random
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ApplyToClip(BaseTransform):
    """Run ``transform`` on each frame of ``results['img']`` identically.

    The wrapped transform first runs on the key frame with the full
    results (its changes to boxes, keypoints, flags are kept); then, for
    each other frame, Python's and NumPy's global random states are reset
    to what they were before the key frame, and the transform runs on a
    copy of the results holding that frame, of which only the image is
    kept.  So every frame sees the same random draws, as long as the
    transform draws from ``random`` / ``np.random`` (all MMPose and mmcv
    transforms do).  A single image (not a list) passes straight through.

    Args:
        transform (dict): Config of the per-image transform.
    """

    def __init__(self, transform: dict):
        # not ``self.transform``: that name is BaseTransform's entry point
        self.per_frame = TRANSFORMS.build(transform)

    def transform(self, results: dict) -> Optional[dict]:
        """Apply the wrapped transform to all frames with one draw."""
        frames = results.get('img')
        if not isinstance(frames, (list, tuple)):
            return self.per_frame(results)
        key = list(results.get('frame_offsets', [0])).index(0)
        np_state, py_state = np.random.get_state(), random.getstate()
        skip = ('img', 'dataset')
        # copied before the key frame runs: transforms may edit in place
        template = copy.deepcopy({
            k: v
            for k, v in results.items() if k not in skip
        })
        out = self.per_frame(dict(results, img=frames[key]))
        if out is None:
            return None
        np_after, py_after = np.random.get_state(), random.getstate()
        new_frames = []
        for i, frame in enumerate(frames):
            if i == key:
                new_frames.append(out['img'])
                continue
            np.random.set_state(np_state)
            random.setstate(py_state)
            other = copy.deepcopy(template)
            other['img'] = frame
            new_frames.append(self.per_frame(other)['img'])
        np.random.set_state(np_after)
        random.setstate(py_after)
        out['img'] = new_frames
        return out

    def __repr__(self) -> str:
        return f'{type(self).__name__}(transform={self.per_frame!r})'
