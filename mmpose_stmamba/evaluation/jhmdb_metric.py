# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Sub-JHMDB PCK@0.2 (person size) and tPCK (torso size).

References:
    * The protocol of the video pose lineage on Sub-JHMDB (LSTM Pose
      Machines, DCPose, FAMI-Pose, ...): PCK at 0.2, normalised by the
      person box size max(w, h), reported per joint group (Head, Shoulder,
      Elbow, Wrist, Hip, Knee, Ankle) and averaged over the three splits.
    * Details as in MMPose 1.x ``JhmdbPCKAccuracy``
      (open-mmlab/mmpose ``mmpose/evaluation/metrics/keypoint_2d_metrics``
      and ``functional/keypoint_eval.py``), read, not copied: the box is
      the GT box ``gt_instances.bboxes`` (xyxy); the torso size is the GT
      distance left shoulder (4) to right hip (5); a joint is correct when
      its normalised distance is strictly below the threshold; Head is
      joint 2, the other groups average the left and right per-joint
      accuracies; ``PCK`` is the mean of the per-joint accuracies of all
      15 joints (neck and belly included).
    * Our choices: values on a 0-100 scale; an instance with a torso
      shorter than 1 px is left out of tPCK (MMPose falls back to the
      predicted torso); ``Mean PCK`` (mean of the 7 groups) is added
      because papers' "Avg" columns are not always the 15-joint mean.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS

#: Sub-JHMDB joint groups (indices into the 15-point layout).
JHMDB_GROUPS = (('Head', (2, )), ('Sho', (3, 4)), ('Elb', (7, 8)),
                ('Wri', (11, 12)), ('Hip', (5, 6)), ('Knee', (9, 10)),
                ('Ank', (13, 14)))
TORSO_PAIR = (4, 5)


def _np(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def pck_per_joint(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray,
                  norm: np.ndarray, thr: float) -> np.ndarray:
    """Per-joint PCK over instances.

    Args:
        pred (np.ndarray): (N, K, 2) predicted keypoints.
        gt (np.ndarray): (N, K, 2) GT keypoints.
        visible (np.ndarray): (N, K) GT visibility (> 0 counts).
        norm (np.ndarray): (N,) normalising length; instances with
            ``norm <= 0`` or NaN are skipped.
        thr (float): threshold on the normalised distance.

    Returns:
        np.ndarray: (K,) accuracy in [0, 1]; NaN for a joint never
        annotated.
    """
    norm = np.asarray(norm, np.float64)
    ok = (np.asarray(visible) > 0) & (norm[:, None] > 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        d = np.linalg.norm(pred - gt, axis=-1) / norm[:, None]
    hit = (d < thr) & ok
    cnt = ok.sum(axis=0)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(cnt > 0, hit.sum(axis=0) / np.maximum(cnt, 1),
                        np.nan)


def summarize_pck(acc: np.ndarray, suffix: str) -> Dict[str, float]:
    """Group values, ``suffix`` (15-joint mean) and ``Mean suffix``.

    Args:
        acc (np.ndarray): (15,) per-joint accuracy in [0, 1].
        suffix (str): ``'PCK'`` or ``'tPCK'``.

    Returns:
        dict[str, float]: values on a 0-100 scale.
    """
    out = OrderedDict()
    groups = []
    for name, idx in JHMDB_GROUPS:
        out[f'{name} {suffix}'] = float(np.mean(acc[list(idx)]) * 100)
        groups.append(out[f'{name} {suffix}'])
    valid = acc[~np.isnan(acc)]
    out[suffix] = float(valid.mean() * 100) if len(valid) else 0.0
    out[f'Mean {suffix}'] = float(np.mean(groups))
    return out


@METRICS.register_module()
class JhmdbPCKMetric(BaseMetric):
    """Sub-JHMDB PCK (box-normalised) and tPCK (torso-normalised).

    Args:
        thr (float): PCK threshold. Defaults to 0.2.
        norm_item (str | Sequence[str]): ``'bbox'`` and/or ``'torso'``.
            Defaults to ``('bbox', 'torso')``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix. Defaults to ``'jhmdb'``.
    """
    default_prefix: Optional[str] = 'jhmdb'

    def __init__(self,
                 thr: float = 0.2,
                 norm_item: Union[str, Sequence[str]] = ('bbox', 'torso'),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        items = [norm_item] if isinstance(norm_item, str) else list(norm_item)
        bad = [i for i in items if i not in ('bbox', 'torso')]
        if bad or not items:
            raise ValueError(f'norm_item must be "bbox" and/or "torso", got '
                             f'{norm_item!r}')
        self.thr = thr
        self.norm_item = items

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep predicted and GT keypoints of each instance.

        Args:
            data_batch (Sequence[dict]): unused.
            data_samples (Sequence[dict]): with ``pred_instances.keypoints``
                (N, 15, 2), ``gt_instances.keypoints`` (N, 15, 2),
                ``gt_instances.keypoints_visible`` (N, 15) and
                ``gt_instances.bboxes`` (N, 4) xyxy, image coordinates.
        """
        for ds in data_samples:
            pred = _np(ds['pred_instances']['keypoints']).astype(np.float64)
            gt_inst = ds['gt_instances']
            gt = _np(gt_inst['keypoints']).astype(np.float64)
            gt = gt.reshape(-1, gt.shape[-2], 2)
            vis = _np(gt_inst['keypoints_visible']).reshape(gt.shape[:2])
            box = _np(gt_inst['bboxes']).astype(np.float64).reshape(-1, 4)
            pred = pred.reshape(gt.shape)
            for i in range(gt.shape[0]):
                self.results.append(
                    dict(
                        pred=pred[i],
                        gt=gt[i],
                        visible=vis[i],
                        bbox_size=float(np.max(box[i, 2:] - box[i, :2])),
                        torso=float(
                            np.linalg.norm(gt[i, TORSO_PAIR[0]] -
                                           gt[i, TORSO_PAIR[1]]))))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """PCK / tPCK per group and means (0-100).

        Args:
            results (list): records from :meth:`process`.

        Returns:
            dict: ``Head PCK`` ... ``Ank PCK``, ``PCK`` (mean of the 15
            per-joint accuracies), ``Mean PCK`` (mean of the 7 groups), and
            the same with ``tPCK``.
        """
        pred = np.stack([r['pred'] for r in results])
        gt = np.stack([r['gt'] for r in results])
        vis = np.stack([r['visible'] for r in results])
        out = OrderedDict()
        if 'bbox' in self.norm_item:
            norm = np.array([r['bbox_size'] for r in results])
            out.update(
                summarize_pck(
                    pck_per_joint(pred, gt, vis, norm, self.thr), 'PCK'))
        if 'torso' in self.norm_item:
            norm = np.array([r['torso'] for r in results])
            norm = np.where(norm < 1, 0.0, norm)  # degenerate torso: skip
            out.update(
                summarize_pck(
                    pck_per_joint(pred, gt, vis, norm, self.thr), 'tPCK'))
        return out
