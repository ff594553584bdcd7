# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Multi-person pose AP of the PoseTrack benchmarks, in plain numpy.

References:
    This module re-implements, in our own code, the published definition of
    the per-frame multi-person pose AP of the PoseTrack evaluation kits:

    * PoseTrack 2017/2018: ``poseval`` (leonid-pishchulin/poseval, files
      ``poseval/eval_helpers.py``, ``evaluateAP.py``, ``convert.py``), the
      toolkit behind all PoseTrack18 numbers of the video pose lineage
      (PoseWarper, DCPose, FAMI-Pose, ...). Nothing is imported from it.
    * PoseTrack21: the PoseTrack21 kit (anDoer/PoseTrack21,
      ``eval/posetrack21/posetrack21/trackeval``: ``datasets/posetrack.py``
      and ``metrics/map.py``).

    The definition, as followed here:

    1. A prediction file and a GT file list the same frames in the same
       order; frames are paired by position (both kits do so).
    2. Frames kept: PoseTrack18, frames whose GT lists at least one person
       (``cleanupData``); PoseTrack21, frames with ``is_labeled``.
    3. Ignore regions (polygons of the GT frame): every GT and predicted
       joint strictly inside a polygon is removed (even-odd rule, points on
       the boundary stay, as GEOS ``contains`` does); a person left without
       joints is removed.
    4. Per frame, the PCKh distance of predicted person p to GT person g at
       joint j is ``|x_p - x_g| / (0.6 * diagonal of g's head box)``; a joint
       matches when the distance is <= 0.5. ``pck[p, g]`` = matched joints
       / annotated joints of g. Each prediction keeps only its best GT
       (first on ties); each GT then takes the prediction with the highest
       remaining ``pck`` (first on ties) unless that is 0.
    5. Every predicted joint is one detection with its score: true when its
       person is assigned to a GT person and the joint matches that person,
       false otherwise (also in frames without GT people).
    6. Per joint, detections of the whole data set are sorted by score
       (``np.argsort(scores)[::-1]``, as the kits do), precision/recall are
       accumulated and AP is the VOC area under the precision envelope
       (precision made monotone from the right, summed over recall steps).
       Precision and recall are the values at the lowest score.
    7. Groups: Head = mean(head_top, head_bottom, nose), the others the mean
       of left and right; Total = mean over the 15 joints that are not NaN.

    PoseTrack18 specifics (``convert.py``): a joint is annotated / predicted
    unless ``x == 0 and y == 0 and v == 0``; the per-joint score is read
    from the person's ``scores`` list, and is -9999 when it is missing or
    empty; joints are mapped to the 15 by name (the ears are dropped);
    recall is ``tp / n_gt`` (NaN for a joint without GT). PoseTrack21
    specifics: a joint exists when ``x > 0 and y > 0`` (visibility is not
    read); the 17-point layout loses the ears by position; recall is
    ``tp / max(n_gt, 1)``.
"""
import glob
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

#: poseval's 15 joints, in poseval's index order.
POSEVAL_JOINTS = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                  'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
                  'right_shoulder', 'left_shoulder', 'left_elbow',
                  'left_wrist', 'head_bottom', 'nose', 'head_top')
NUM_JOINTS = len(POSEVAL_JOINTS)

#: The 17-point PoseTrack18/21 layout (COCO order, eyes -> head points).
POSETRACK_KEYPOINTS = ('nose', 'head_bottom', 'head_top', 'left_ear',
                       'right_ear', 'left_shoulder', 'right_shoulder',
                       'left_elbow', 'right_elbow', 'left_wrist',
                       'right_wrist', 'left_hip', 'right_hip', 'left_knee',
                       'right_knee', 'left_ankle', 'right_ankle')

#: Reported joint groups, by joint name (poseval ``getCum``).
JOINT_GROUPS = (
    ('Head', ('head_top', 'head_bottom', 'nose')),
    ('Shoulder', ('right_shoulder', 'left_shoulder')),
    ('Elbow', ('right_elbow', 'left_elbow')),
    ('Wrist', ('right_wrist', 'left_wrist')),
    ('Hip', ('right_hip', 'left_hip')),
    ('Knee', ('right_knee', 'left_knee')),
    ('Ankle', ('right_ankle', 'left_ankle')),
)
GROUP_NAMES = tuple(name for name, _ in JOINT_GROUPS) + ('Total', )

#: Score given to a predicted joint without a score (both kits).
MISSING_SCORE = -9999.0
#: PCKh threshold of a match.
PCKH_THR = 0.5

PROTOCOLS = ('posetrack18', 'posetrack21')


def map_17_to_15(names: Sequence[str] = POSETRACK_KEYPOINTS) -> List[int]:
    """Index of each poseval joint in a keypoint layout, found by name.

    Args:
        names (Sequence[str]): keypoint names of the layout. Defaults to the
            17-point PoseTrack layout.

    Returns:
        list[int]: ``idx[j]`` is the position of poseval joint ``j`` in
        ``names``.
    """
    names = list(names)
    missing = [n for n in POSEVAL_JOINTS if n not in names]
    if missing:
        raise ValueError(f'keypoint layout lacks the joints {missing}')
    return [names.index(n) for n in POSEVAL_JOINTS]


def head_size(box_xywh) -> float:
    """PCKh reference length: 0.6 times the diagonal of the head box.

    Args:
        box_xywh: head box ``(x, y, w, h)``.

    Returns:
        float: ``0.6 * sqrt(w**2 + h**2)``.
    """
    x, y, w, h = [float(v) for v in box_xywh]
    # the kits subtract corners (x2 - x1); keep that order of operations
    x2, y2 = x + w, y + h
    return 0.6 * float(np.linalg.norm(np.subtract([x2, y2], [x, y])))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie strictly inside a polygon (even-odd rule).

    Points on an edge or a vertex are outside, as with GEOS ``contains``.
    A polygon with fewer than 3 vertices contains nothing.

    Args:
        points (np.ndarray): (N, 2) points.
        polygon (np.ndarray): (M, 2) vertices, open or closed.

    Returns:
        np.ndarray: (N,) bool.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3 or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    x, y = points[:, :1], points[:, 1:]  # (N, 1)
    x1, y1 = poly[None, :, 0], poly[None, :, 1]  # (1, M)
    nxt = np.roll(poly, -1, axis=0)
    x2, y2 = nxt[None, :, 0], nxt[None, :, 1]
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    on_edge = ((cross == 0) & (np.minimum(x1, x2) <= x) &
               (x <= np.maximum(x1, x2)) & (np.minimum(y1, y2) <= y) &
               (y <= np.maximum(y1, y2)))
    straddle = (y1 > y) != (y2 > y)
    with np.errstate(divide='ignore', invalid='ignore'):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = np.sum(straddle & (x < x_cross), axis=1)
    return (crossings % 2 == 1) & ~on_edge.any(axis=1)


def _polygons(xs, ys) -> List[np.ndarray]:
    """Polygons from PoseTrack18 ``ignore_regions_x`` / ``_y`` lists."""
    return [
        np.stack([np.asarray(px, np.float64),
                  np.asarray(py, np.float64)], axis=1).reshape(-1, 2)
        for px, py in zip(xs or [], ys or [])
    ]


def _person(xy, valid, score, head=None, track_id=None) -> dict:
    return dict(
        xy=np.asarray(xy, np.float64).reshape(NUM_JOINTS, 2),
        valid=np.asarray(valid, bool).reshape(NUM_JOINTS),
        score=np.asarray(score, np.float64).reshape(NUM_JOINTS),
        head=head,
        track_id=track_id)


def _frame_index(file_name: str, fallback: int) -> int:
    stem = osp.splitext(osp.basename(str(file_name)))[0].split('_')[0]
    return int(stem) if stem.isdigit() else fallback


def parse_video(data: dict, protocol: str = 'posetrack18') -> List[dict]:
    """Read one PoseTrack video file (GT or predictions) into frames.

    Args:
        data (dict): the loaded JSON: PoseTrack18 format (``images``,
            ``annotations``, ``categories``) or, for ``posetrack18``, the
            PoseTrack17 ``annolist`` format.
        protocol (str): ``'posetrack18'`` or ``'posetrack21'``.

    Returns:
        list[dict]: one dict per frame, in file order, with ``image_id``,
        ``file_name``, ``frame_index``, ``labeled`` (``is_labeled``),
        ``num_rects`` (people listed), ``ignore`` (list of (M, 2) polygons)
        and ``people`` (dicts with ``xy`` (15, 2), ``valid`` (15,),
        ``score`` (15,), ``head`` (x, y, w, h) or None, ``track_id``).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, '
                         f'got {protocol!r}')
    if 'annolist' in data:
        if protocol != 'posetrack18':
            raise ValueError('the annolist format is PoseTrack17/18 only')
        return _parse_annolist(data['annolist'])
    if 'images' not in data:
        raise ValueError('unknown PoseTrack file: no "images" or "annolist"')
    if protocol == 'posetrack21':
        idx = [i for i in range(17) if i not in (3, 4)]
        # the 21 kit drops the ears by position: joint order is the 17-point
        # order minus the ears, mapped here onto poseval's order by name
        order = [POSETRACK_KEYPOINTS[i] for i in idx]
        kp_idx = [idx[order.index(n)] for n in POSEVAL_JOINTS]
        num_raw = 17
    else:
        cats = data.get('categories') or []
        names = cats[0]['keypoints'] if cats else POSETRACK_KEYPOINTS
        kp_idx = map_17_to_15(names)
        num_raw = len(names)
    by_image: Dict[object, list] = {}
    for ann in data.get('annotations', []):
        by_image.setdefault(ann['image_id'], []).append(ann)
    frames = []
    for pos, img in enumerate(data['images']):
        people = []
        for ann in by_image.get(img['id'], []):
            kpt = np.asarray(ann['keypoints'], np.float64).reshape(num_raw, 3)
            kpt = kpt[kp_idx]
            scores = ann.get('scores')
            if scores:
                score = np.asarray(scores, np.float64).reshape(num_raw)
                score = score[kp_idx]
            else:
                score = np.full(NUM_JOINTS, MISSING_SCORE)
            if protocol == 'posetrack21':
                valid = (kpt[:, 0] > 0) & (kpt[:, 1] > 0)
            else:
                valid = ~((kpt[:, 0] == 0) & (kpt[:, 1] == 0) &
                          (kpt[:, 2] == 0))
            people.append(
                _person(kpt[:, :2], valid, score, ann.get('bbox_head'),
                        ann.get('track_id')))
        frames.append(
            dict(
                image_id=img.get('id'),
                file_name=img.get('file_name', ''),
                frame_index=_frame_index(img.get('file_name', ''), pos),
                labeled=bool(img.get('is_labeled', len(people) > 0)),
                num_rects=len(people),
                ignore=_polygons(
                    img.get('ignore_regions_x'), img.get('ignore_regions_y')),
                people=people))
    return frames


def _parse_annolist(annolist: list) -> List[dict]:
    """Frames of the PoseTrack17 ``annolist`` format (poseval's own)."""
    frames = []
    for pos, entry in enumerate(annolist):
        name = entry['image'][0]['name'] if isinstance(
            entry['image'], list) else entry['image']['name']
        people = []
        rects = entry.get('annorect', [])
        for rect in rects:
            ap = rect.get('annopoints')
            # poseval keeps a rect only when it has an annopoints[0].point
            if not (ap and len(ap[0]) > 0 and 'point' in ap[0]):
                continue
            xy = np.zeros((NUM_JOINTS, 2))
            valid = np.zeros(NUM_JOINTS, bool)
            score = np.full(NUM_JOINTS, np.nan)
            for pt in ap[0]['point']:
                j = pt['id'][0]
                if not 0 <= j < NUM_JOINTS or valid[j]:
                    continue
                xy[j] = pt['x'][0], pt['y'][0]
                valid[j] = True
                score[j] = pt['score'][0] if 'score' in pt else MISSING_SCORE
            head = None
            if all(k in rect for k in ('x1', 'y1', 'x2', 'y2')):
                x1, y1 = rect['x1'][0], rect['y1'][0]
                head = (x1, y1, rect['x2'][0] - x1, rect['y2'][0] - y1)
            tid = rect.get('track_id')
            people.append(
                _person(xy, valid, score, head,
                        tid[0] if isinstance(tid, list) else tid))
        ignore = [
            np.asarray([[p['x'][0], p['y'][0]] for p in reg['point']],
                       np.float64).reshape(-1, 2)
            for reg in entry.get('ignore_regions', [])
        ]
        frames.append(
            dict(
                image_id=None,
                file_name=name,
                frame_index=_frame_index(name, pos),
                labeled=len(rects) > 0,
                num_rects=len(rects),
                ignore=ignore,
                people=people))
    return frames


def _remove_ignored(people: List[dict], polygons: List[np.ndarray],
                    protocol: str) -> List[dict]:
    """Drop joints inside ignore regions, then people without joints."""
    kept = []
    for p in people:
        inside = np.zeros(NUM_JOINTS, bool)
        for poly in polygons:
            inside |= points_in_polygon(p['xy'], poly)
        if protocol == 'posetrack21':
            # the 21 kit tests every joint slot, (0, 0) ones included, and
            # drops a person whose 15 slots are all inside or all empty
            if inside.all():
                continue
            q = dict(p, xy=p['xy'].copy(), score=p['score'].copy())
            q['xy'][inside] = 0
            q['score'][inside] = 0
            if np.all((q['xy'][:, 0] <= 0) & (q['xy'][:, 1] <= 0)):
                continue
            q['valid'] = (q['xy'][:, 0] > 0) & (q['xy'][:, 1] > 0)
        else:
            q = dict(p, valid=p['valid'] & ~inside)
            if not q['valid'].any():
                continue
        kept.append(q)
    return kept


def match_frame(gt: List[dict],
                pred: List[dict],
                thr: float = PCKH_THR) -> Tuple[np.ndarray, np.ndarray]:
    """Assign predictions to GT people of one frame by PCKh.

    Args:
        gt (list[dict]): GT people (``xy``, ``valid``, ``head``).
        pred (list[dict]): predicted people (``xy``, ``valid``).
        thr (float): PCKh threshold. Defaults to 0.5.

    Returns:
        tuple: ``labels`` (P, 15) bool, true for a matched joint of an
        assigned prediction; ``gt_to_pred`` (G,) int, the prediction
        assigned to each GT person or -1.
    """
    n_p, n_g = len(pred), len(gt)
    labels = np.zeros((n_p, NUM_JOINTS), bool)
    gt_to_pred = np.full(n_g, -1, dtype=np.int64)
    if n_p == 0 or n_g == 0:
        return labels, gt_to_pred
    gxy = np.stack([g['xy'] for g in gt])  # (G, 15, 2)
    gval = np.stack([g['valid'] for g in gt])
    pxy = np.stack([p['xy'] for p in pred])  # (P, 15, 2)
    pval = np.stack([p['valid'] for p in pred])
    heads = []
    for i, g in enumerate(gt):
        if g['head'] is None:
            if not gval[i].any():
                heads.append(np.nan)  # nothing to match against anyway
                continue
            raise ValueError('a GT person with keypoints has no head box '
                             '("bbox_head"); PCKh needs it')
        heads.append(head_size(g['head']))
    heads = np.asarray(heads, np.float64)
    diff = pxy[:, None] - gxy[None]  # (P, G, 15, 2)
    with np.errstate(divide='ignore', invalid='ignore'):
        dist = np.sqrt(np.sum(diff * diff, axis=-1)) / heads[None, :, None]
    both = pval[:, None, :] & gval[None, :, :]
    dist = np.where(both, dist, np.inf)
    with np.errstate(invalid='ignore'):
        match = dist <= thr  # (P, G, 15)
    n_gt_joints = gval.sum(axis=1)  # (G,)
    pck = match.sum(axis=2).astype(np.float64)
    pck = np.where(n_gt_joints[None] > 0, pck / np.maximum(n_gt_joints, 1),
                   pck)
    best = np.argmax(pck, axis=1)  # each prediction keeps its best GT
    kept = np.zeros_like(pck)
    rows = np.arange(n_p)
    kept[rows, best] = pck[rows, best]
    cand = np.argmax(kept, axis=0)
    ok = kept.max(axis=0) > 0
    gt_to_pred[ok] = cand[ok]
    for g in np.flatnonzero(ok):
        labels[gt_to_pred[g]] = match[gt_to_pred[g], g]
    return labels, gt_to_pred


def prepare_frames(gt_frames: List[dict], pred_frames: List[dict],
                   protocol: str) -> List[Tuple[dict, list, list]]:
    """Pair frames, keep the evaluated ones, apply ignore regions.

    Args:
        gt_frames (list[dict]): frames of one GT video (``parse_video``).
        pred_frames (list[dict]): frames of the matching prediction file.
        protocol (str): ``'posetrack18'`` or ``'posetrack21'``.

    Returns:
        list[tuple]: ``(gt_frame, gt_people, pred_people)`` per kept frame.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f'# prediction frames {len(pred_frames)} != '
                         f'# GT frames {len(gt_frames)}')
    out = []
    for g, p in zip(gt_frames, pred_frames):
        if (g['image_id'] is not None and p['image_id'] is not None
                and g['image_id'] != p['image_id']):
            raise ValueError(f'frame order differs: GT image id '
                             f'{g["image_id"]} vs prediction image id '
                             f'{p["image_id"]} ({g["file_name"]})')
        keep = g['labeled'] if protocol == 'posetrack21' else (
            g['num_rects'] > 0)
        if not keep:
            continue
        gt_people, pr_people = g['people'], p['people']
        if g['ignore']:
            gt_people = _remove_ignored(gt_people, g['ignore'], protocol)
            pr_people = _remove_ignored(pr_people, g['ignore'], protocol)
        out.append((g, gt_people, pr_people))
    return out


def _voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC area under the monotone precision envelope (no sampling)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


def ap_from_detections(scores: Sequence[np.ndarray],
                       labels: Sequence[np.ndarray],
                       n_gt: np.ndarray,
                       protocol: str = 'posetrack18') -> Dict[str, np.ndarray]:
    """Per-joint AP, precision and recall (0-100) from scored detections.

    Args:
        scores (Sequence[np.ndarray]): per joint, the scores of all its
            detections, in data-set order.
        labels (Sequence[np.ndarray]): per joint, true/false positive.
        n_gt (np.ndarray): (15,) number of GT joints.
        protocol (str): ``'posetrack18'`` (recall tp / n_gt) or
            ``'posetrack21'`` (tp / max(n_gt, 1)).

    Returns:
        dict: ``ap``, ``precision``, ``recall``: (16,) arrays, 15 joints in
        poseval order then the NaN-ignoring mean.
    """
    out = {k: np.zeros(NUM_JOINTS + 1) for k in ('ap', 'precision', 'recall')}
    for j in range(NUM_JOINTS):
        s = np.asarray(scores[j], np.float64).reshape(-1)
        lab = np.asarray(labels[j]).reshape(-1).astype(np.int64)
        if len(s) == 0:
            continue
        order = s.argsort()[::-1]
        tp = np.cumsum(lab[order] == 1).astype(np.float64)
        precision = tp / np.arange(1, len(s) + 1)
        total = float(n_gt[j])
        if protocol == 'posetrack21':
            total = max(total, 1.0)
        with np.errstate(divide='ignore', invalid='ignore'):
            recall = tp / total
        out['ap'][j] = _voc_ap(recall, precision) * 100
        out['precision'][j] = precision[-1] * 100
        out['recall'][j] = recall[-1] * 100
    for v in out.values():
        finite = v[:NUM_JOINTS][~np.isnan(v[:NUM_JOINTS])]
        v[NUM_JOINTS] = finite.mean() if len(finite) else np.nan
    return out


def group_values(values: np.ndarray) -> Dict[str, float]:
    """Head, Shoulder, ..., Ankle and Total from (16,) per-joint values.

    Args:
        values (np.ndarray): 15 joints in poseval order, then the total.

    Returns:
        dict[str, float]: keys of ``GROUP_NAMES``.
    """
    out = {}
    for name, joints in JOINT_GROUPS:
        idx = [POSEVAL_JOINTS.index(j) for j in joints]
        out[name] = float(np.mean(values[idx]))
    out['Total'] = float(values[NUM_JOINTS])
    return out


def accel_errors(videos: Sequence[List[Tuple[dict, list, list,
                                             np.ndarray]]]) -> np.ndarray:
    """Acceleration errors of matched predictions along GT tracks.

    For each GT track and frame t whose frames t-1, t, t+1 (by frame
    index) are all evaluated, the track is present in all three and
    assigned to a prediction in all three, and joint j is annotated and
    predicted in all three: ``|a_pred - a_gt|`` with ``a = x[t+1] -
    2 x[t] + x[t-1]`` (pixels per frame squared).

    Args:
        videos: per video, tuples ``(gt_frame, gt_people, pred_people,
            gt_to_pred)`` of the evaluated frames.

    Returns:
        np.ndarray: (M,) errors, one per (track, t, joint).
    """
    errs = []
    for frames in videos:
        tracks: Dict[object, Dict[int, Tuple[np.ndarray, np.ndarray,
                                             np.ndarray]]] = {}
        for frame, gt_people, pr_people, gt_to_pred in frames:
            for g, pidx in zip(gt_people, gt_to_pred):
                if pidx < 0 or g['track_id'] is None:
                    continue
                p = pr_people[pidx]
                tracks.setdefault(g['track_id'], {})[frame['frame_index']] = (
                    g['xy'], p['xy'], g['valid'] & p['valid'])
        for seq in tracks.values():
            for t in sorted(seq):
                if t - 1 not in seq or t + 1 not in seq:
                    continue
                (g0, p0, v0), (g1, p1, v1), (g2, p2, v2) = (seq[t - 1],
                                                            seq[t],
                                                            seq[t + 1])
                ok = v0 & v1 & v2
                if not ok.any():
                    continue
                acc_p = p2 - 2 * p1 + p0
                acc_g = g2 - 2 * g1 + g0
                errs.append(np.linalg.norm((acc_p - acc_g)[ok], axis=1))
    return np.concatenate(errs) if errs else np.zeros(0)


def evaluate_videos(pairs: Sequence[Tuple[dict, dict]],
                    protocol: str = 'posetrack18',
                    thr: float = PCKH_THR,
                    names: Sequence[str] = None) -> dict:
    """Evaluate (GT, prediction) video files, loaded as dicts.

    Args:
        pairs (Sequence[tuple]): ``(gt_json, pred_json)`` per video, in the
            order their detections are pooled (sorted file names).
        protocol (str): ``'posetrack18'`` or ``'posetrack21'``.
        thr (float): PCKh threshold. Defaults to 0.5.
        names (Sequence[str], optional): a name per pair for error
            messages. Defaults to None.

    Returns:
        dict: ``ap``, ``precision``, ``recall`` (dicts of ``GROUP_NAMES``,
        0-100), ``per_joint`` (the (16,) arrays), ``num_frames`` (evaluated
        frames), ``accel_err`` (mean px, NaN if no triplet) and
        ``num_accel`` (number of terms).
    """
    scores = [[] for _ in range(NUM_JOINTS)]
    labels = [[] for _ in range(NUM_JOINTS)]
    n_gt = np.zeros(NUM_JOINTS)
    videos = []
    n_frames = 0
    for k, (gt_json, pred_json) in enumerate(pairs):
        try:
            frames = prepare_frames(
                parse_video(gt_json, protocol),
                parse_video(pred_json, protocol), protocol)
            matched = [(f, g, p, *match_frame(g, p, thr))
                       for f, g, p in frames]
        except (ValueError, KeyError) as e:
            name = names[k] if names else f'video {k}'
            raise ValueError(f'{name}: {e!r}') from e
        for _, gt_people, pr_people, lab, _ in matched:
            for i, p in enumerate(pr_people):
                for j in np.flatnonzero(p['valid']):
                    scores[j].append(p['score'][j])
                    labels[j].append(lab[i, j])
            for g in gt_people:
                n_gt += g['valid']
        n_frames += len(frames)
        videos.append([(f, g, p, m) for f, g, p, _, m in matched])
    per_joint = ap_from_detections(scores, labels, n_gt, protocol)
    acc = accel_errors(videos)
    return dict(
        ap=group_values(per_joint['ap']),
        precision=group_values(per_joint['precision']),
        recall=group_values(per_joint['recall']),
        per_joint=per_joint,
        num_frames=n_frames,
        accel_err=float(acc.mean()) if len(acc) else float('nan'),
        num_accel=int(len(acc)))


def evaluate_dirs(gt_dir: str,
                  pred_dir: str,
                  protocol: str = 'posetrack18',
                  thr: float = PCKH_THR) -> dict:
    """Evaluate a folder of per-video GT files against predictions.

    Every ``*.json`` of ``gt_dir`` needs a prediction file of the same name
    in ``pred_dir``. Files are taken in sorted name order.

    Args:
        gt_dir (str): folder of GT files (e.g. ``annotations/val``).
        pred_dir (str): folder of prediction files.
        protocol (str): ``'posetrack18'`` or ``'posetrack21'``.
        thr (float): PCKh threshold. Defaults to 0.5.

    Returns:
        dict: see :func:`evaluate_videos`; plus ``num_videos``.
    """
    gt_files = sorted(glob.glob(osp.join(gt_dir, '*.json')))
    if not gt_files:
        raise FileNotFoundError(f'no *.json GT files in {gt_dir}')
    pairs = []
    for gt_file in gt_files:
        pred_file = osp.join(pred_dir, osp.basename(gt_file))
        if not osp.isfile(pred_file):
            raise FileNotFoundError(f'prediction file {pred_file} missing '
                                    f'(needed for {gt_file})')
        with open(gt_file) as f:
            gt = json.load(f)
        with open(pred_file) as f:
            pred = json.load(f)
        pairs.append((gt, pred))
    names = [
        f'{osp.join(pred_dir, osp.basename(g))} vs {g}' for g in gt_files
    ]
    res = evaluate_videos(pairs, protocol, thr, names)
    res['num_videos'] = len(gt_files)
    return res


def format_table(values: Dict[str, float], title: str = 'AP') -> str:
    """The usual one-row PoseTrack table (poseval's column heads).

    Args:
        values (dict): keys of ``GROUP_NAMES``.
        title (str): row label. Defaults to ``'AP'``.

    Returns:
        str: header line and value line.
    """
    heads = ('Head', 'Shou', 'Elb', 'Wri', 'Hip', 'Knee', 'Ankl', 'Total')
    head = f'{"":>9} |' + ''.join(f' {h:>5} |' for h in heads)
    row = f'{title:>9} |' + ''.join(f' {values[k]:5.1f} |'
                                    for k in GROUP_NAMES)
    return head + '\n' + row


def video_json(images: List[dict],
               people: Dict[object, List[dict]],
               keypoint_names: Sequence[str] = POSETRACK_KEYPOINTS) -> dict:
    """One video of predictions in the PoseTrack18 format.

    Args:
        images (list[dict]): every frame of the video (``id``,
            ``file_name``, other keys are copied too), in GT order.
        people (dict): image id -> list of dicts with ``keypoints`` (K, 2),
            ``scores`` (K,) (NaN marks a dropped joint), ``score`` (float)
            and optional ``track_id``.
        keypoint_names (Sequence[str]): the K names. Defaults to the
            17-point PoseTrack layout.

    Returns:
        dict: ``images``, ``annotations`` (``keypoints`` as flat
        ``[x, y, score] * K``, ``scores``, ``score``, ``track_id``) and
        ``categories``.
    """
    anns = []
    for img in images:
        for i, p in enumerate(people.get(img['id'], [])):
            kpt = np.asarray(p['keypoints'], np.float64).reshape(-1, 2)
            sc = np.asarray(p['scores'], np.float64).reshape(-1)
            drop = np.isnan(sc)
            sc = np.where(drop, 0.0, sc)
            # a dropped joint is written as (0, 0, 0): both kits skip it
            flat = np.concatenate(
                [np.where(drop[:, None], 0.0, kpt), sc[:, None]], axis=1)
            anns.append(
                dict(
                    image_id=img['id'],
                    id=len(anns),
                    category_id=1,
                    track_id=int(p.get('track_id', i)),
                    keypoints=[float(v) for v in flat.reshape(-1)],
                    scores=[float(v) for v in sc],
                    score=float(p.get('score', 0.0))))
    return dict(
        images=[dict(img) for img in images],
        annotations=anns,
        categories=[
            dict(
                supercategory='person',
                id=1,
                name='person',
                keypoints=list(keypoint_names))
        ])


def dump_json(obj: dict, path: str) -> None:
    """Write ``obj`` as JSON, creating the folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def split_by_video(coco: dict) -> Dict[str, dict]:
    """Split a merged COCO-style PoseTrack file into per-video dicts.

    Videos are named after the folder of ``file_name`` (e.g.
    ``012834_mpii_test``), which is the per-video file name of the
    official layout.

    Args:
        coco (dict): merged annotation file (``images``, ``annotations``,
            ``categories``).

    Returns:
        dict: video name -> dict in the per-video format.
    """
    videos: Dict[str, dict] = {}
    img_video = {}
    for img in coco['images']:
        name = osp.basename(osp.dirname(img['file_name']))
        v = videos.setdefault(
            name,
            dict(
                images=[],
                annotations=[],
                categories=coco.get('categories', [])))
        v['images'].append(img)
        img_video[img['id']] = name
    for ann in coco.get('annotations', []):
        if ann['image_id'] in img_video:
            videos[img_video[ann['image_id']]]['annotations'].append(ann)
    for v in videos.values():
        v['images'].sort(key=lambda im: _frame_index(im['file_name'], 0))
    return videos
