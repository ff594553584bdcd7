# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""PoseTrack multi-person pose AP as an MMPose metric, without poseval.

References:
    * The AP itself is ``posetrack_ap`` (our re-implementation of poseval's
      and the PoseTrack21 kit's published definition).
    * The metric's interface follows MMPose 1.x ``PoseTrack18Metric`` /
      ``CocoMetric`` (open-mmlab/mmpose): ``ann_file``, the per-video GT
      folder next to it, ``score_mode``, ``keypoint_score_thr``,
      ``nms_mode``/``nms_thr`` with MMPose's ``oks_nms``; the written files
      are the PoseTrack18 per-video files poseval reads.
    * The default per-joint score, box score x keypoint score with no
      threshold and no NMS, is what PoseWarper's PoseTrack evaluation
      (facebookresearch/PoseWarper, ``lib/dataset/posetrack.py``,
      ``coco2posetrack``) writes; DCPose and its successors reuse that
      code. This attribution is from reading PoseWarper only.
"""
import json
import os
import os.path as osp
import tempfile
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.evaluation.functional import oks_nms, soft_oks_nms
from mmpose.registry import METRICS

from . import posetrack_ap as pt

SCORE_MODES = ('bbox_keypoint', 'keypoint', 'bbox')
NMS_MODES = ('none', 'oks_nms', 'soft_oks_nms')


def _np(x) -> np.ndarray:
    """A numpy array from a tensor, array or list."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@METRICS.register_module()
class PoseTrackMAP(BaseMetric):
    """PoseTrack18 / PoseTrack21 multi-person pose AP (poseval's definition).

    ``process`` keeps one record per person instance; ``compute_metrics``
    writes one PoseTrack18-format file per video into ``outfile_prefix``
    (every frame of the GT video listed, with or without predictions) and
    evaluates them against the GT with :mod:`posetrack_ap`, the same code
    as ``tools/eval_posetrack.py``.

    Args:
        ann_file (str, optional): merged COCO-style GT (e.g.
            ``annotations/posetrack18_val.json``). Used to find the
            per-video GT folder when ``gt_dir`` is None (MMPose's rule:
            ``<dir>/<last '_' token>/``, here ``annotations/val/``); if that
            folder does not exist the merged file is split by video.
            Defaults to None.
        gt_dir (str, optional): folder of per-video GT files. Defaults to
            None.
        protocol (str): ``'posetrack18'`` (poseval) or ``'posetrack21'``
            (the PoseTrack21 kit). Defaults to ``'posetrack18'``.
        score_mode (str): per-joint score written and ranked:
            ``'bbox_keypoint'`` (box score x keypoint score, the
            PoseWarper/DCPose convention), ``'keypoint'`` (MMPose's
            ``PoseTrack18Metric``) or ``'bbox'``. Defaults to
            ``'bbox_keypoint'``.
        keypoint_score_thr (float, optional): joints whose keypoint score
            is below this are not written (not predicted). Defaults to None
            (keep all).
        nms_mode (str): ``'none'``, ``'oks_nms'`` or ``'soft_oks_nms'``
            per frame, on the instance score box score x mean keypoint
            score above ``rescore_thr`` (as MMPose's ``CocoMetric``).
            Defaults to ``'none'``.
        nms_thr (float): OKS threshold of the NMS. Defaults to 0.9.
        rescore_thr (float): keypoint score threshold of the instance
            score used by the NMS. Defaults to 0.2.
        pckh_thr (float): PCKh match threshold. Defaults to 0.5.
        outfile_prefix (str, optional): folder for the per-video prediction
            files; a temporary folder when None. Defaults to None.
        format_only (bool): only write the files (test sets without GT
            keypoints still need the per-video GT frame lists). Defaults
            to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): metric key prefix. Defaults to
            ``'posetrack'``.
    """
    default_prefix: Optional[str] = 'posetrack'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 gt_dir: Optional[str] = None,
                 protocol: str = 'posetrack18',
                 score_mode: str = 'bbox_keypoint',
                 keypoint_score_thr: Optional[float] = None,
                 nms_mode: str = 'none',
                 nms_thr: float = 0.9,
                 rescore_thr: float = 0.2,
                 pckh_thr: float = 0.5,
                 outfile_prefix: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if protocol not in pt.PROTOCOLS:
            raise ValueError(f'protocol must be one of {pt.PROTOCOLS}, '
                             f'got {protocol!r}')
        if score_mode not in SCORE_MODES:
            raise ValueError(f'score_mode must be one of {SCORE_MODES}, '
                             f'got {score_mode!r}')
        if nms_mode not in NMS_MODES:
            raise ValueError(f'nms_mode must be one of {NMS_MODES}, '
                             f'got {nms_mode!r}')
        if ann_file is None and gt_dir is None:
            raise ValueError('PoseTrackMAP needs ann_file or gt_dir, '
                             'got neither')
        if gt_dir is None:
            token = osp.splitext(osp.basename(ann_file).split('_')[-1])[0]
            cand = osp.join(osp.dirname(ann_file), token)
            gt_dir = cand if osp.isdir(cand) else None
        if gt_dir is not None and not osp.isdir(gt_dir):
            raise ValueError(f'gt_dir {gt_dir!r} is not a folder')
        self.ann_file = ann_file
        self.gt_dir = gt_dir
        self.protocol = protocol
        self.score_mode = score_mode
        self.keypoint_score_thr = keypoint_score_thr
        self.nms_mode = nms_mode
        self.nms_thr = nms_thr
        self.rescore_thr = rescore_thr
        self.pckh_thr = pckh_thr
        self.outfile_prefix = outfile_prefix
        self.format_only = format_only

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep one record per predicted person instance.

        Args:
            data_batch (Sequence[dict]): unused.
            data_samples (Sequence[dict]): ``PoseDataSample.to_dict()``
                outputs with ``pred_instances.keypoints`` (N, K, 2) image
                coordinates, ``pred_instances.keypoint_scores`` (N, K),
                optional ``pred_instances.bbox_scores`` (N,) (else
                ``gt_instances.bbox_scores``, else 1) and
                ``pred_instances.bboxes`` (N, 4) xyxy (for OKS-NMS areas),
                metainfo ``id``, ``img_id``, ``img_path``.
        """
        for ds in data_samples:
            pred = ds['pred_instances']
            kpts = _np(pred['keypoints']).astype(np.float64)
            kpts = kpts.reshape(-1, kpts.shape[-2], 2)
            n = kpts.shape[0]
            scores = _np(pred['keypoint_scores']).astype(np.float64)
            scores = scores.reshape(n, -1)
            if 'bbox_scores' in pred:
                bscore = _np(pred['bbox_scores']).reshape(-1)
            elif 'bbox_scores' in ds.get('gt_instances', {}):
                bscore = _np(ds['gt_instances']['bbox_scores']).reshape(-1)
            else:
                bscore = np.ones(n)
            bboxes = _np(pred['bboxes']).reshape(
                -1, 4) if 'bboxes' in pred else None
            for i in range(n):
                area = None
                if bboxes is not None and len(bboxes) == n:
                    w, h = bboxes[i, 2:] - bboxes[i, :2]
                    area = float(w * h)
                self.results.append(
                    dict(
                        id=ds.get('id'),
                        img_id=ds['img_id'],
                        img_path=ds.get('img_path'),
                        keypoints=kpts[i],
                        keypoint_scores=scores[i],
                        bbox_score=float(bscore[i] if len(bscore) == n
                                         else bscore[0]),
                        area=area))

    # ----------------------------------------------------------------- #
    def _gt_videos(self) -> 'OrderedDict[str, dict]':
        """Per-video GT dicts, keyed by file name, sorted."""
        videos = {}
        if self.gt_dir is not None:
            for name in sorted(
                    f for f in os.listdir(self.gt_dir) if f.endswith('.json')):
                with open(osp.join(self.gt_dir, name)) as f:
                    videos[name] = json.load(f)
        else:
            with open(self.ann_file) as f:
                merged = json.load(f)
            for name, v in pt.split_by_video(merged).items():
                videos[name + '.json'] = v
        if not videos:
            raise FileNotFoundError(
                f'no GT videos found (gt_dir={self.gt_dir!r}, '
                f'ann_file={self.ann_file!r})')
        return OrderedDict(sorted(videos.items()))

    def _instance_people(self, records: List[dict]) -> List[dict]:
        """Per-frame rescoring, NMS and per-joint scores of one image."""
        people = []
        for r in records:
            ks = r['keypoint_scores']
            above = ks[ks > self.rescore_thr]
            inst = r['bbox_score'] * (above.mean() if len(above) else 1.0)
            if self.score_mode == 'bbox_keypoint':
                joint = r['bbox_score'] * ks
            elif self.score_mode == 'keypoint':
                joint = ks.copy()
            else:
                joint = np.full_like(ks, r['bbox_score'])
            if self.keypoint_score_thr is not None:
                joint = np.where(ks < self.keypoint_score_thr, np.nan, joint)
            people.append(
                dict(
                    keypoints=r['keypoints'],
                    scores=joint,
                    score=float(inst),
                    raw=r))
        if self.nms_mode != 'none' and len(people) > 1:
            sigmas = self.dataset_meta.get('sigmas') if getattr(
                self, 'dataset_meta', None) else None
            db = []
            for p in people:
                kpt = p['raw']['keypoints']
                area = p['raw']['area']
                if area is None:
                    ext = kpt.max(0) - kpt.min(0)
                    area = float(ext[0] * ext[1])
                db.append(
                    dict(
                        keypoints=np.concatenate(
                            [kpt, p['raw']['keypoint_scores'][:, None]], 1),
                        score=p['score'],
                        area=area))
            fn = oks_nms if self.nms_mode == 'oks_nms' else soft_oks_nms
            keep = fn(db, self.nms_thr, sigmas=sigmas)
            people = [people[int(k)] for k in keep]
        for p in people:
            p.pop('raw')
        return people

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Write per-video files and compute the AP.

        Args:
            results (list): records from :meth:`process`.

        Returns:
            dict: ``Head AP``, ``Shoulder AP``, ``Elbow AP``, ``Wrist AP``,
            ``Hip AP``, ``Knee AP``, ``Ankle AP``, ``AP`` (Total, mean of
            the 15 joints), ``Precision``, ``Recall`` (Total), all 0-100,
            and ``AccelErr`` (px / frame^2); empty when ``format_only``.
        """
        logger = MMLogger.get_current_instance()
        by_img: Dict[object, List[dict]] = defaultdict(list)
        seen = set()
        for r in results:
            key = r['id'] if r['id'] is not None else id(r)
            if key in seen:
                continue
            seen.add(key)
            by_img[r['img_id']].append(r)
        names = pt.POSETRACK_KEYPOINTS
        meta = getattr(self, 'dataset_meta', None) or {}
        if meta.get('keypoint_id2name'):
            id2name = meta['keypoint_id2name']
            names = tuple(id2name[i] for i in range(len(id2name)))
        out_dir = self.outfile_prefix
        if out_dir is None:
            self._tmp = tempfile.TemporaryDirectory()
            out_dir = self._tmp.name
        gt_videos = self._gt_videos()
        pairs, used = [], set()
        for fname, gt in gt_videos.items():
            people = {}
            for img in gt['images']:
                if img['id'] in by_img:
                    people[img['id']] = self._instance_people(
                        by_img[img['id']])
                    used.add(img['id'])
            pred = pt.video_json(gt['images'], people, names)
            pt.dump_json(pred, osp.join(out_dir, fname))
            pairs.append((gt, pred))
        lost = set(by_img) - used
        if lost:
            logger.warning(f'PoseTrackMAP: {len(lost)} predicted images are '
                           f'in no GT video and were not evaluated')
        logger.info(f'PoseTrackMAP: wrote {len(pairs)} prediction files '
                    f'to {out_dir}')
        if self.format_only:
            return {}
        res = pt.evaluate_videos(pairs, self.protocol, self.pckh_thr)
        logger.info('PoseTrack AP (' + self.protocol + '):\n' +
                    pt.format_table(res['ap']))
        metrics = OrderedDict()
        for name in pt.GROUP_NAMES[:-1]:
            metrics[f'{name} AP'] = res['ap'][name]
        metrics['AP'] = res['ap']['Total']
        metrics['Precision'] = res['precision']['Total']
        metrics['Recall'] = res['recall']['Total']
        metrics['AccelErr'] = res['accel_err']
        return metrics
