"""Load the T frames of a clip.

References: the clip contract of docs/design.md; reading goes through
MMEngine's file backends and ``mmcv.imfrombytes`` as MMPose's ``LoadImage``
(mmcv ``LoadImageFromFile``) does.  The missing-frame policy (nearest
existing frame of the clip, counted) is our own: PoseTrack releases miss a
few frames, and the bundled samples have only the annotated frame on disk.
"""
import logging
from typing import List, Optional, Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get
from mmengine.logging import print_log
from mmpose.registry import TRANSFORMS


def nearest_available(offsets: Sequence[int], ok: Sequence[bool],
                      i: int) -> int:
    """Index of the loaded frame closest in time to frame ``i``.

    Ties go to the frame closer to the key frame (offset 0), which is
    always loaded.

    Args:
        offsets (Sequence[int]): Clip offsets.
        ok (Sequence[bool]): Whether each frame was loaded.
        i (int): Index of the missing frame.

    Returns:
        int: Index of the frame to use instead.
    """
    cands = [j for j in range(len(offsets)) if ok[j]]
    return min(
        cands, key=lambda j: (abs(offsets[j] - offsets[i]), abs(offsets[j])))


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Read the clip's frames into ``results['img']`` (a list of T images).

    Required keys: ``img_path`` (key frame) and, for a clip,
    ``frame_paths`` and ``frame_offsets`` (without them the clip is the key
    frame alone, T = 1).  If ``results['img']`` already holds a list of
    frames (e.g. from a video reader) they are used as given.

    Added keys: ``img`` (list of T HWC arrays, BGR for ``color_type``
    ``'color'``, the key frame at ``frame_offsets.index(0)``),
    ``img_shape``, ``ori_shape`` (key frame), ``missing_frames`` (paths
    that were replaced).

    A missing or unreadable key frame raises ``FileNotFoundError`` naming
    the file and the instance.  A missing or unreadable supporting frame is
    replaced by the nearest loaded frame of the clip (``missing='nearest'``)
    and recorded in ``missing_frames``; :class:`MissingFrameReportHook`
    sums these and logs the count once per epoch, and the first occurrence
    in each process is logged right away.  With ``missing='error'`` it
    raises instead.  A frame whose size differs from the key frame's is an
    error.

    Args:
        to_float32 (bool): Convert frames to float32. Defaults to False.
        color_type (str): ``mmcv.imfrombytes`` flag. Defaults to
            ``'color'``.
        imdecode_backend (str): Decoding backend. Defaults to ``'cv2'``.
        missing (str): ``'nearest'`` or ``'error'`` for a missing
            supporting frame. Defaults to ``'nearest'``.
        backend_args (dict, optional): MMEngine file backend arguments.
            Defaults to None.
    """

    #: supporting frames replaced in this process since it started
    num_missing_total = 0

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 missing: str = 'nearest',
                 backend_args: Optional[dict] = None):
        if missing not in ('nearest', 'error'):
            raise ValueError('missing must be "nearest" or "error", got '
                             f'{missing!r}')
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.missing = missing
        self.backend_args = backend_args

    def _read(self, path: str) -> Optional[np.ndarray]:
        try:
            buf = get(path, backend_args=self.backend_args)
        except (FileNotFoundError, IsADirectoryError):
            return None
        try:
            img = mmcv.imfrombytes(
                buf, flag=self.color_type, backend=self.imdecode_backend)
        except Exception:  # a corrupt file reads like a missing one
            return None
        if img is not None and self.to_float32:
            img = img.astype(np.float32)
        return img

    def transform(self, results: dict) -> dict:
        """Load the frames; see the class docstring for the keys."""
        offsets = list(results.get('frame_offsets', (0, )))
        key = offsets.index(0)
        given = results.get('img')
        if isinstance(given, (list, tuple)):
            if len(given) != len(offsets):
                raise ValueError(f'results["img"] holds {len(given)} frames '
                                 f'but frame_offsets has {len(offsets)}')
            frames: List[np.ndarray] = list(given)
            missing = []
        else:
            paths = list(results.get('frame_paths', [results['img_path']]))
            if len(paths) != len(offsets):
                raise ValueError(f'frame_paths has {len(paths)} entries but '
                                 f'frame_offsets {len(offsets)}')
            frames = [self._read(p) for p in paths]
            if frames[key] is None:
                raise FileNotFoundError(
                    f'key frame missing or unreadable: {paths[key]} '
                    f'(img_id={results.get("img_id")}, '
                    f'id={results.get("id")})')
            ok = [f is not None for f in frames]
            missing = [p for p, good in zip(paths, ok) if not good]
            if missing and self.missing == 'error':
                raise FileNotFoundError(
                    f'supporting frame(s) missing: {missing} (key frame '
                    f'{paths[key]})')
            for i in range(len(frames)):
                if not ok[i]:
                    # a copy, so in-place transforms never apply twice
                    frames[i] = frames[nearest_available(offsets, ok,
                                                         i)].copy()
            if missing:
                if LoadClipFrames.num_missing_total == 0:
                    print_log(
                        f'LoadClipFrames: supporting frame {missing[0]} is '
                        'missing; using the nearest existing frame of its '
                        'clip (further cases are counted and reported per '
                        'epoch by MissingFrameReportHook)',
                        logger='current',
                        level=logging.WARNING)
                LoadClipFrames.num_missing_total += len(missing)
        shape = frames[key].shape[:2]
        for i, f in enumerate(frames):
            if f.shape[:2] != shape:
                where = (
                    results['frame_paths'][i]
                    if 'frame_paths' in results else f'frame {i}')
                raise ValueError(f'{where}: frame size {f.shape[:2]} differs '
                                 f'from the key frame size {shape}')
        results['img'] = frames
        results['img_shape'] = shape
        results['ori_shape'] = shape
        results['missing_frames'] = missing
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}', "
                f"missing='{self.missing}', "
                f'backend_args={self.backend_args})')
