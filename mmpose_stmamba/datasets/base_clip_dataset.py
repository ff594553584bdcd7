"""Top-down clip data sets on MMPose's COCO-style machinery.

References: subclasses MMPose's ``BaseCocoStyleDataset`` (metainfo parsing,
``get_data_info``, serialisation, ``bbox_score_thr`` filtering, the test-mode
``<dataset_name>_ann_file`` message used by ``CocoMetric``) and replaces its
annotation reading so that every bad input gives an error naming the file
and the field, or a counted, logged skip.  The clip of each instance follows
docs/design.md; the detection formats are MMPose's ``bbox_file``
(``image_id, bbox, score``) and PoseWarper's ``val_boxes.json``
(``image_name, bbox, score, nframes, frame_id``; Bertasius et al., NeurIPS
2019), with PoseWarper's default score threshold 0.2 and no NMS.
"""
import json
import logging
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS

from .clip_utils import (DataFormatError, FrameNaming, SkipLog, as_floats,
                         as_int, check_frame_offsets, data_error)

SKIP_REASONS = {
    'crowd':
    'iscrowd annotation: a group, not one person',
    'no_keypoints':
    'no labelled keypoint (normal in PoseTrack: persons '
    'whose joints are all hidden or outside the image)',
    'degenerate_box':
    'bbox width or height <= 0',
    'box_outside_image':
    'bbox has no area left after clipping to the image',
    'unlabeled_frame':
    'image has is_labeled=false and labeled_only=True',
    'low_score':
    'detection score below det_score_thr',
    'non_person':
    'detection category_id is not 1 (person)',
    'unknown_image':
    'detection for an image that is not in the '
    'annotations (unknown_det="skip")',
}


def load_json(path: str):
    """Read a JSON file; a parse error names the file, line and column."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataFormatError(
            f'{path}: not valid JSON (line {e.lineno}, column {e.colno}: '
            f'{e.msg})') from None


def _require(d: dict, keys: Sequence[str], file: str, where: str) -> None:
    """Raise naming ``file`` and ``where.key`` for the first missing key."""
    if not isinstance(d, dict):
        raise data_error(file, where, f'expected an object, got {type(d)}')
    for k in keys:
        if k not in d:
            raise data_error(file, f'{where}.{k}', 'required field missing')


@DATASETS.register_module()
class BaseClipDataset(BaseCocoStyleDataset):
    """Top-down person instances, each with the clip around its frame.

    Every instance (a ground-truth person, or a detection in test mode)
    becomes one data info with the key frame's ``img_path`` (a string) and
    ``frame_paths``: the T frames at ``frame_offsets`` from the key frame,
    clamped to the video's first and last frame.  The frame naming is
    decided per video from the files on disk (see
    :class:`~mmpose_stmamba.datasets.clip_utils.FrameNaming`).

    Documented skips (counted in ``self.skips`` and logged once per build):
    ``crowd``, ``no_keypoints``, ``degenerate_box`` (w or h <= 0),
    ``box_outside_image``, ``unlabeled_frame`` (with ``labeled_only``),
    ``low_score`` (detections below ``det_score_thr``), ``non_person``
    (detections of another category) and ``unknown_image`` (detections
    whose image is not in the annotations, with ``unknown_det='skip'``).
    Everything else that is wrong (bad JSON, a missing required field, a
    value of the wrong type, duplicated ids, a key frame beyond ``nframes``)
    raises :class:`~mmpose_stmamba.datasets.clip_utils.DataFormatError`
    naming the file and the field.

    Args:
        ann_file (str): A COCO-style annotation JSON, or a folder of them
            (e.g. one file per video; they are merged).  Joined with
            ``data_root``.  Defaults to ``''``.
        bbox_file (str, optional): Person detections (test mode only), a
            list of dicts in MMPose's format (``image_id``, ``bbox`` xywh,
            ``score``, optional ``category_id``) or PoseWarper's
            ``val_boxes.json`` format (``image_name``, ``bbox``, ``score``,
            ``nframes``, ``frame_id``).  Not joined with ``data_root``
            (as in MMPose).  Defaults to None.
        frame_offsets (Sequence[int]): Clip frames relative to the key
            frame; must include 0.  Defaults to ``(-2, -1, 0, 1, 2)``.
        det_score_thr (float): Detections with a lower score are skipped
            (counted).  Defaults to 0.2.
        labeled_only (bool): Skip (counted) instances on images whose
            ``is_labeled`` is false.  Defaults to True.
        kpt_outside (str): Labelled keypoints outside the image are
            ``'keep'`` (kept as annotated), ``'invisible'`` (visibility set
            to 0) or ``'error'``.  Always counted and logged.
            Defaults to ``'keep'``.
        unknown_det (str): A detection for an image not in the annotations
            is ``'skip'`` (counted, logged) or ``'error'``.
            Defaults to ``'skip'``.
        **kwargs: The remaining arguments of ``BaseCocoStyleDataset``
            (``metainfo``, ``data_root``, ``data_prefix``, ``filter_cfg``,
            ``indices``, ``serialize_data``, ``pipeline``, ``test_mode``,
            ``lazy_init``, ``max_refetch``); only ``data_mode='topdown'``.
    """

    #: subtracted from box and keypoint x, y (1.0 for MATLAB 1-based data)
    COORD_SHIFT: float = 0.0

    def __init__(self,
                 ann_file: str = '',
                 bbox_file: Optional[str] = None,
                 frame_offsets: Sequence[int] = (-2, -1, 0, 1, 2),
                 det_score_thr: float = 0.2,
                 labeled_only: bool = True,
                 kpt_outside: str = 'keep',
                 unknown_det: str = 'skip',
                 data_mode: str = 'topdown',
                 metainfo: Optional[dict] = None,
                 data_root: Optional[str] = None,
                 data_prefix: dict = dict(img=''),
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: List[Union[dict, Callable]] = [],
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000):
        if data_mode != 'topdown':
            raise ValueError(f'{type(self).__name__} supports only '
                             f'data_mode="topdown", got {data_mode!r}')
        if kpt_outside not in ('keep', 'invisible', 'error'):
            raise ValueError('kpt_outside must be "keep", "invisible" or '
                             f'"error", got {kpt_outside!r}')
        if unknown_det not in ('skip', 'error'):
            raise ValueError('unknown_det must be "skip" or "error", got '
                             f'{unknown_det!r}')
        self.frame_offsets = check_frame_offsets(frame_offsets)
        self.det_score_thr = float(det_score_thr)
        self.labeled_only = labeled_only
        self.kpt_outside = kpt_outside
        self.unknown_det = unknown_det
        self.skips = SkipLog(SKIP_REASONS)
        self.load_stats = dict(
            kpt_outside=0, size_from_file=0, naming_by_convention=0)
        self.naming = FrameNaming(self.first_index_convention)
        super().__init__(
            ann_file=ann_file,
            bbox_file=bbox_file,
            data_mode=data_mode,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            filter_cfg=filter_cfg,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    @staticmethod
    def first_index_convention(digits: int) -> int:
        """First frame index when no frame 0 or 1 is on disk."""
        return 0

    # ------------------------------------------------------------ reading
    def _annotation_files(self) -> List[str]:
        if osp.isdir(self.ann_file):
            files = sorted(
                osp.join(self.ann_file, n) for n in os.listdir(self.ann_file)
                if n.endswith('.json'))
            if not files:
                raise FileNotFoundError(
                    f'no *.json annotation file in folder {self.ann_file}')
            return files
        return [self.ann_file]

    def _read_annotations(self) -> Tuple[Dict[int, dict], List[tuple]]:
        """Read and check images and annotations of every annotation file.

        Returns:
            tuple: ``(images, anns)``: images by id (checked records) and
            a list of ``(file, index, raw annotation)``.
        """
        images: Dict[int, dict] = {}
        anns: List[tuple] = []
        categories = []
        for file in self._annotation_files():
            data = load_json(file)
            if not isinstance(data, dict):
                raise data_error(file, '<top level>',
                                 'expected a COCO-style object')
            _require(data, ['images'], file, '<top level>')
            if not self.bbox_file:
                _require(data, ['annotations'], file, '<top level>')
            for i, img in enumerate(data['images']):
                rec = self._check_image(img, file, f'images[{i}]')
                if rec['img_id'] in images:
                    raise data_error(
                        file, f'images[{i}].id', f'duplicate image id '
                        f'{rec["img_id"]} (also in '
                        f'{images[rec["img_id"]]["file"]})')
                images[rec['img_id']] = rec
            for i, ann in enumerate(data.get('annotations') or []):
                anns.append((file, i, ann))
            if not categories and data.get('categories'):
                categories = data['categories']
        if categories:
            self._metainfo['CLASSES'] = categories
        return images, anns

    def _check_image(self, img: dict, file: str, where: str) -> dict:
        _require(img, ['id', 'file_name', 'nframes'], file, where)
        img_id = as_int(img['id'], file, f'{where}.id')
        nframes = as_int(img['nframes'], file, f'{where}.nframes')
        if nframes < 1:
            raise data_error(file, f'{where}.nframes',
                             f'must be >= 1, got {nframes}')
        if not isinstance(img['file_name'], str):
            raise data_error(file, f'{where}.file_name', 'expected a string')
        img_path = osp.join(self.data_prefix['img'], img['file_name'])
        if 'width' in img and 'height' in img:
            width = as_int(img['width'], file, f'{where}.width')
            height = as_int(img['height'], file, f'{where}.height')
        else:
            width, height = self._size_from_file(img_path, file, where)
        if width < 1 or height < 1:
            raise data_error(file, f'{where}.width',
                             f'image size {width}x{height} is not positive')
        regions = []
        xs = img.get('ignore_regions_x') or []
        ys = img.get('ignore_regions_y') or []
        if len(xs) != len(ys):
            raise data_error(file, f'{where}.ignore_regions_x',
                             'differs in length from ignore_regions_y')
        for j, (x, y) in enumerate(zip(xs, ys)):
            fx = as_floats(x, None, file, f'{where}.ignore_regions_x[{j}]')
            fy = as_floats(y, len(fx), file, f'{where}.ignore_regions_y[{j}]')
            regions.append(np.array([fx, fy], np.float32).T.reshape(-1, 2))
        video_name = osp.basename(osp.dirname(img['file_name']))
        return dict(
            img_id=img_id,
            file_name=img['file_name'],
            img_path=img_path,
            width=width,
            height=height,
            nframes=nframes,
            frame_id=img.get('frame_id', img_id),
            vid_id=str(img.get('vid_id', video_name)),
            video_name=video_name,
            is_labeled=bool(img.get('is_labeled', True)),
            ignore_regions=regions,
            file=file,
            where=where)

    def _size_from_file(self, img_path: str, file: str,
                        where: str) -> Tuple[int, int]:
        """Image size from the key frame's header, when the JSON has none."""
        from PIL import Image
        if not osp.isfile(img_path):
            raise data_error(
                file, f'{where}.width', 'missing, and the frame '
                f'{img_path} to read it from does not exist')
        with Image.open(img_path) as im:
            width, height = im.size
        self.load_stats['size_from_file'] += 1
        return width, height

    # ------------------------------------------------------------ clips
    def _clip_fields(self, rec: dict) -> dict:
        """Clip and video fields of one image record (cached on it)."""
        if 'clip' not in rec:
            video, key_index = self.naming.resolve(
                rec['img_path'], rec['nframes'], rec['file'],
                f'{rec["where"]}.file_name')
            if video.source == 'convention':
                self.load_stats['naming_by_convention'] += 1
            indices, paths = video.clip(key_index, self.frame_offsets)
            rec['clip'] = dict(
                img_id=rec['img_id'],
                img_path=rec['img_path'],
                frame_paths=paths,
                frame_offsets=self.frame_offsets,
                frame_indices=indices,
                frame_index=key_index,
                frame_id=rec['frame_id'],
                nframes=rec['nframes'],
                vid_id=rec['vid_id'],
                video_name=rec['video_name'],
                ignore_regions=rec['ignore_regions'],
                ori_shape=(rec['height'], rec['width']))
        return dict(rec['clip'])

    # ------------------------------------------------------------ boxes
    def _box(self, xywh: List[float], rec: dict,
             example: str) -> Optional[np.ndarray]:
        """xyxy box clipped to the image, or None (skip counted)."""
        x, y, w, h = xywh
        if w <= 0 or h <= 0:
            self.skips.add('degenerate_box', example)
            return None
        x -= self.COORD_SHIFT
        y -= self.COORD_SHIFT
        img_w, img_h = rec['width'], rec['height']
        x1, x2 = np.clip([x, x + w], 0, img_w - 1)
        y1, y2 = np.clip([y, y + h], 0, img_h - 1)
        if x2 <= x1 or y2 <= y1:
            self.skips.add('box_outside_image', example)
            return None
        return np.array([[x1, y1, x2, y2]], dtype=np.float32)

    # ------------------------------------------------------------ GT
    def _parse_annotation(self, file: str, i: int, ann: dict,
                          images: Dict[int, dict],
                          seen_ids: Dict[int, str]) -> Optional[dict]:
        where = f'annotations[{i}]'
        _require(ann, ['id', 'image_id', 'bbox', 'keypoints'], file, where)
        ann_id = as_int(ann['id'], file, f'{where}.id')
        if ann_id in seen_ids:
            raise data_error(
                file, f'{where}.id', f'duplicate annotation id '
                f'{ann_id} (also in {seen_ids[ann_id]})')
        seen_ids[ann_id] = file
        img_id = as_int(ann['image_id'], file, f'{where}.image_id')
        if img_id not in images:
            raise data_error(file, f'{where}.image_id',
                             f'no image with id {img_id}')
        rec = images[img_id]
        example = f'{file}:{where} (id {ann_id})'
        num_k = self._metainfo['num_keypoints']
        kpts = np.array(
            as_floats(ann['keypoints'], num_k * 3, file, f'{where}.keypoints'),
            dtype=np.float32).reshape(1, num_k, 3)
        xywh = as_floats(ann['bbox'], 4, file, f'{where}.bbox')
        if ann.get('iscrowd', False):
            self.skips.add('crowd', example)
            return None
        if self.labeled_only and not rec['is_labeled']:
            self.skips.add('unlabeled_frame', example)
            return None
        visible = np.minimum(1, np.maximum(kpts[..., 2], 0))
        if not visible.any():
            self.skips.add('no_keypoints', example)
            return None
        bbox = self._box(xywh, rec, example)
        if bbox is None:
            return None
        keypoints = kpts[..., :2] - self.COORD_SHIFT
        visible = self._check_outside(keypoints, visible, rec, file,
                                      f'{where}.keypoints')
        x1, y1, x2, y2 = bbox[0]
        area = ann.get('area', max((x2 - x1) * (y2 - y1) * 0.53, 1.0))
        info = self._clip_fields(rec)
        info.update(
            bbox=bbox,
            bbox_score=np.ones(1, dtype=np.float32),
            keypoints=keypoints,
            keypoints_visible=visible.astype(np.float32),
            num_keypoints=int(np.count_nonzero(visible)),
            area=np.array(area, dtype=np.float32),
            iscrowd=0,
            id=ann_id,
            category_id=np.array(ann.get('category_id', 1)),
            track_id=ann.get('track_id', -1),
            raw_ann_info=ann)
        if 'occluded' in ann:
            occ = as_floats(ann['occluded'], num_k, file, f'{where}.occluded')
            info['keypoints_occluded'] = np.array(occ, np.float32).reshape(
                1, num_k)
        return info

    def _check_outside(self, keypoints: np.ndarray, visible: np.ndarray,
                       rec: dict, file: str, field: str) -> np.ndarray:
        x, y = keypoints[0, :, 0], keypoints[0, :, 1]
        outside = (visible[0] > 0) & ((x < 0) | (y < 0) | (x >= rec['width'])
                                      | (y >= rec['height']))
        n = int(outside.sum())
        if not n:
            return visible
        self.load_stats['kpt_outside'] += n
        if self.kpt_outside == 'error':
            raise data_error(
                file, field, f'{n} labelled keypoint(s) outside the '
                f'{rec["width"]}x{rec["height"]} image (indices '
                f'{np.flatnonzero(outside).tolist()})')
        if self.kpt_outside == 'invisible':
            visible = visible.copy()
            visible[0, outside] = 0
        return visible

    def _gt_data_list(self, images: Dict[int, dict],
                      anns: List[tuple]) -> List[dict]:
        data_list, seen_ids = [], {}
        for file, i, ann in anns:
            info = self._parse_annotation(file, i, ann, images, seen_ids)
            if info is not None:
                data_list.append(info)
        return data_list

    # ------------------------------------------------------------ detections
    def _det_data_list(self, images: Dict[int, dict]) -> List[dict]:
        file = self.bbox_file
        dets = load_json(file)
        if not isinstance(dets, list):
            raise data_error(file, '<top level>',
                             'expected a list of detection objects')
        by_name = {rec['file_name']: rec for rec in images.values()}
        num_k = self._metainfo['num_keypoints']
        data_list = []
        for i, det in enumerate(dets):
            where = f'[{i}]'
            _require(det, ['bbox', 'score'], file, where)
            if not any(k in det for k in ('image_id', 'image_name')):
                raise data_error(file, f'{where}.image_id',
                                 'required field missing (or image_name)')
            xywh = as_floats(det['bbox'], None, file, f'{where}.bbox')
            if len(xywh) < 4:
                raise data_error(file, f'{where}.bbox',
                                 f'expected 4 numbers, got {len(xywh)}')
            xywh = xywh[:4]
            score = as_floats([det['score']], 1, file, f'{where}.score')[0]
            if 'image_id' in det:
                key = as_int(det['image_id'], file, f'{where}.image_id')
                rec = images.get(key)
            else:
                key = det['image_name']
                rec = by_name.get(key)
            example = f'{file}:{where} ({key})'
            if rec is None:
                if self.unknown_det == 'error':
                    raise data_error(
                        file, f'{where}.image_id' if 'image_id' in det else
                        f'{where}.image_name', f'image {key!r} is not in '
                        f'the annotations ({self.ann_file})')
                self.skips.add('unknown_image', example)
                continue
            if det.get('category_id', 1) != 1:
                self.skips.add('non_person', example)
                continue
            if score < self.det_score_thr:
                self.skips.add('low_score', example)
                continue
            if self.labeled_only and not rec['is_labeled']:
                self.skips.add('unlabeled_frame', example)
                continue
            bbox = self._box(xywh, rec, example)
            if bbox is None:
                continue
            info = self._clip_fields(rec)
            info.update(
                bbox=bbox,
                bbox_score=np.array([score], dtype=np.float32),
                # no ground truth: dummy keypoints, all invisible
                keypoints=np.zeros((1, num_k, 2), dtype=np.float32),
                keypoints_visible=np.zeros((1, num_k), dtype=np.float32),
                id=len(data_list),
                category_id=np.array(1))
            data_list.append(info)
        return data_list

    def load_data_list(self) -> List[dict]:
        """Instances with their clips; logs the counted skips."""
        images, anns = self._read_annotations()
        if self.bbox_file:
            data_list = self._det_data_list(images)
        else:
            data_list = self._gt_data_list(images, anns)
        owner = f'{type(self).__name__}({self.bbox_file or self.ann_file})'
        self.skips.report(owner)
        stats = self.load_stats
        if stats['kpt_outside']:
            print_log(
                f'{owner}: {stats["kpt_outside"]} labelled keypoints lie '
                f'outside their image (kpt_outside={self.kpt_outside!r})',
                logger='current',
                level=logging.WARNING)
        if stats['naming_by_convention']:
            print_log(
                f'{owner}: {stats["naming_by_convention"]} images belong to '
                'videos with neither frame 0 nor frame 1 on disk; their '
                'first frame index follows the naming convention',
                logger='current',
                level=logging.WARNING)
        print_log(
            f'{owner}: {len(data_list)} instances, clips at offsets '
            f'{self.frame_offsets}',
            logger='current',
            level=logging.INFO)
        return data_list
