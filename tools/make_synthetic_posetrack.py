#!/usr/bin/env python
"""Write a small synthetic video pose data set in PoseTrack18 format.

References: the file layout and JSON fields follow PoseTrack18 as MMPose
reads it (docs/data.md); the detections follow PoseWarper's
``val_boxes.json`` (image_name, bbox, score, nframes, frame_id).  The figures
are our own design: a 3-D kinematic stick skeleton (pelvis, torso, head,
two-segment arms and legs) with sinusoidal joint angles for a few motion
styles (walk, wave, squat, jumping jack), a slowly turning body (yaw),
orthographic projection and translation across the frame; limbs have
distinct colours per side and segment, shaded by depth, so left and right
are learnable.  Occluders (static poles and boxes that fly through for a
few frames) hide joints; motion blur comes from averaging sub-frame
renders over the exposure.

Occluded joints keep their true position with visibility 1, and each
annotation carries ``occluded`` (17 ints): the model has to infer them from
temporal evidence, and an evaluator can report occluded-joint AP.  Joints
outside the image get visibility 0 and (0, 0), the ears are never labelled
(as in PoseTrack18).  Output is deterministic per ``--seed``.

Usage::

    python tools/make_synthetic_posetrack.py --out data/synth --videos 4 \
        --seed 0 --frames 30 --people 3 --size 384x288 --splits train val
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

KEYPOINTS = [
    'nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle'
]
# PoseTrack18's 1-based skeleton, as in its category entry
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13],
            [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3],
            [2, 4], [3, 5], [4, 6], [5, 7]]
EARS = (3, 4)
MOTIONS = ('walk', 'wave', 'squat', 'jack')

# Body proportions as fractions of the figure height h.
TORSO, NECK, HEAD = 0.30, 0.04, 0.19
SHOULDER, HIP = 0.12, 0.08
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.15, 0.24, 0.24

# BGR base colours: left limbs green/cyan, right limbs red/magenta, one
# shade per segment, so side and segment are both visible.
LIMB_COLOURS = {
    'l_upper_arm': (40, 170, 40),
    'l_forearm': (120, 230, 90),
    'r_upper_arm': (40, 40, 200),
    'r_forearm': (140, 90, 250),
    'l_thigh': (170, 150, 20),
    'l_shin': (240, 220, 80),
    'r_thigh': (30, 110, 210),
    'r_shin': (60, 190, 250),
}
LIMB_WIDTH = {'upper_arm': 0.05, 'forearm': 0.04, 'thigh': 0.07, 'shin': 0.055}


def limb_dir(flex: float, abduct: float, side: int) -> np.ndarray:
    """Unit vector of a limb in the body frame (x: person's left, y: down,
    z: towards the camera) for a forward flexion and an outward abduction.
    """
    return np.array([
        side * np.sin(abduct),
        np.cos(abduct) * np.cos(flex),
        np.cos(abduct) * np.sin(flex)
    ])


class Person:
    """One figure: its fixed shape and motion parameters.

    Args:
        rng (np.random.Generator): Source of all random parameters.
        size (tuple): Frame (width, height).
        nframes (int): Video length.
        slot (tuple): ``(i, n)``: the figure starts in the i-th of n
            vertical bands, so that figures do not all start on top of
            each other.
    """

    def __init__(self,
                 rng: np.random.Generator,
                 size: Tuple[int, int],
                 nframes: int,
                 slot: Tuple[int, int] = (0, 1)):
        w, h = size
        self.h = rng.uniform(0.45, 0.8) * h
        self.motion = MOTIONS[rng.integers(len(MOTIONS))]
        self.omega = rng.uniform(0.15, 0.35)  # rad per frame
        self.phase = rng.uniform(0, 2 * np.pi)
        self.yaw0 = rng.uniform(-0.7, 0.7)
        self.yaw_amp = rng.uniform(0.0, 0.4)
        self.yaw_omega = rng.uniform(0.02, 0.08)
        self.lean_amp = rng.uniform(0.0, 0.12)
        self.amp = rng.uniform(0.7, 1.2)
        self.jitter = rng.uniform(-0.15, 0.15, size=(8, ))
        self.jitter_omega = rng.uniform(0.05, 0.3, size=(8, ))
        self.wave_side = int(rng.choice([-1, 1]))
        speed = rng.uniform(0.3, 1.2) * w / max(nframes, 1) * 0.6
        self.vx = speed * rng.choice(
            [-1, 1]) * (1.0 if self.motion == 'walk' else 0.3)
        self.x0 = (0.1 + 0.8 * (slot[0] + rng.uniform(0.2, 0.8)) / slot[1]) * w
        self.ground = rng.uniform(0.8, 0.97) * h
        self.width = w
        shirt = rng.integers(40, 220, size=3)
        self.shirt = tuple(int(c) for c in shirt)
        self.skin = tuple(int(c) for c in rng.integers(120, 230, size=3))

    def angles(self, t: float) -> Dict[str, float]:
        """Joint angles (radians) at time t (frames)."""
        s = np.sin(self.omega * t + self.phase)
        c = np.cos(self.omega * t + self.phase)
        a = self.amp
        j = self.jitter * np.sin(self.jitter_omega * t + self.phase)
        ang = dict(
            l_sh_f=0.0,
            r_sh_f=0.0,
            l_sh_b=0.15,
            r_sh_b=0.15,
            l_el=0.3,
            r_el=0.3,
            l_hip_f=0.0,
            r_hip_f=0.0,
            l_hip_b=0.05,
            r_hip_b=0.05,
            l_kn=0.1,
            r_kn=0.1,
            drop=0.0)
        if self.motion == 'walk':
            ang.update(
                l_hip_f=0.45 * a * s,
                r_hip_f=-0.45 * a * s,
                l_kn=0.6 * a * max(0.0, c),
                r_kn=0.6 * a * max(0.0, -c),
                l_sh_f=-0.5 * a * s,
                r_sh_f=0.5 * a * s,
                l_el=0.4 + 0.3 * max(0.0, -s),
                r_el=0.4 + 0.3 * max(0.0, s))
        elif self.motion == 'wave':
            side = 'l' if self.wave_side > 0 else 'r'
            ang[f'{side}_sh_b'] = 2.3 + 0.35 * a * s
            ang[f'{side}_el'] = 0.6 + 0.5 * a * c
            ang['l_hip_f'] = 0.1 * s
            ang['r_hip_f'] = -0.1 * s
        elif self.motion == 'squat':
            k = 0.9 * a * (1 - c) / 2
            ang.update(
                l_hip_f=k,
                r_hip_f=k,
                l_kn=2 * k,
                r_kn=2 * k,
                l_sh_f=1.2 * k + 0.2,
                r_sh_f=1.2 * k + 0.2,
                drop=THIGH * (1 - np.cos(k)) + SHIN * (1 - np.cos(k)))
        else:  # jumping jack
            k = (1 - c) / 2
            ang.update(
                l_sh_b=0.2 + 2.2 * a * k,
                r_sh_b=0.2 + 2.2 * a * k,
                l_el=0.2,
                r_el=0.2,
                l_hip_b=0.05 + 0.35 * k,
                r_hip_b=0.05 + 0.35 * k,
                drop=-0.05 * np.sin(np.pi * k))
        for i, name in enumerate(('l_sh_f', 'r_sh_f', 'l_el', 'r_el',
                                  'l_hip_f', 'r_hip_f', 'l_kn', 'r_kn')):
            ang[name] += j[i]
        ang['l_el'] = max(ang['l_el'], 0.0)
        ang['r_el'] = max(ang['r_el'], 0.0)
        ang['l_kn'] = max(ang['l_kn'], 0.0)
        ang['r_kn'] = max(ang['r_kn'], 0.0)
        return ang

    def pose(self, t: float) -> Tuple[np.ndarray, np.ndarray, dict]:
        """17 PoseTrack joints and extra points at time t.

        Returns:
            tuple: ``(xy (17, 2) image coords, z (17,) depth, extra)``
            where ``extra`` has ``neck``, ``pelvis``, ``head_c`` (x, y, z).
        """
        ang = self.angles(t)
        h = self.h
        p = {}
        p['pelvis'] = np.zeros(3)
        p['neck'] = np.array([0, -TORSO, 0])
        p['head_bottom'] = p['neck'] + [0, -NECK, 0]
        p['head_top'] = p['head_bottom'] + [0, -HEAD, 0]
        head_c = (p['head_bottom'] + p['head_top']) / 2
        p['head_c'] = head_c
        p['nose'] = head_c + [0, 0.02, 0.09]
        p['left_ear'] = head_c + [0.08, 0, 0]
        p['right_ear'] = head_c + [-0.08, 0, 0]
        for side, pre, name in ((1, 'l', 'left'), (-1, 'r', 'right')):
            sh = p['neck'] + [side * SHOULDER, 0.02, 0]
            el = sh + UPPER_ARM * limb_dir(ang[f'{pre}_sh_f'],
                                           ang[f'{pre}_sh_b'], side)
            wr = el + FOREARM * limb_dir(ang[f'{pre}_sh_f'] + ang[f'{pre}_el'],
                                         ang[f'{pre}_sh_b'], side)
            hip = p['pelvis'] + [side * HIP, 0, 0]
            kn = hip + THIGH * limb_dir(ang[f'{pre}_hip_f'],
                                        ang[f'{pre}_hip_b'], side)
            an = kn + SHIN * limb_dir(ang[f'{pre}_hip_f'] - ang[f'{pre}_kn'],
                                      ang[f'{pre}_hip_b'], side)
            p.update({
                f'{name}_shoulder': sh,
                f'{name}_elbow': el,
                f'{name}_wrist': wr,
                f'{name}_hip': hip,
                f'{name}_knee': kn,
                f'{name}_ankle': an
            })
        # turn about the vertical axis, lean in the image plane
        yaw = self.yaw0 + self.yaw_amp * np.sin(self.yaw_omega * t +
                                                self.phase)
        lean = self.lean_amp * np.sin(0.5 * self.omega * t)
        cy, sy = np.cos(yaw), np.sin(yaw)
        cl, sl = np.cos(lean), np.sin(lean)
        # the person faces the camera (+z) at yaw 0; their left is image
        # right, i.e. body +x maps to image +x
        rot_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rot_lean = np.array([[cl, -sl, 0], [sl, cl, 0], [0, 0, 1]])
        leg = THIGH + SHIN
        root_x = self._root_x(t)
        bob = 0.015 * np.sin(2 * self.omega * t) \
            if self.motion == 'walk' else 0.0
        root_y = self.ground - h * (leg - ang['drop'] + bob)
        out = {}
        for k, v in p.items():
            q = rot_lean @ (rot_yaw @ v)
            out[k] = np.array([root_x + h * q[0], root_y + h * q[1], h * q[2]])
        xyz = np.stack([out[k] for k in KEYPOINTS])
        extra = {k: out[k] for k in ('neck', 'pelvis', 'head_c')}
        return xyz[:, :2], xyz[:, 2], extra

    def _root_x(self, t: float) -> float:
        """Horizontal position; bounces between 10% and 90% of the width."""
        lo, hi = 0.1 * self.width, 0.9 * self.width
        x = self.x0 + self.vx * t - lo
        span = hi - lo
        x = np.mod(x, 2 * span)
        return lo + (x if x <= span else 2 * span - x)


def shade(colour, z: float, h: float) -> Tuple[int, int, int]:
    """Darker when farther from the camera (z < 0)."""
    f = float(np.clip(0.85 + 0.6 * z / max(h, 1.0), 0.5, 1.15))
    return tuple(int(np.clip(c * f, 0, 255)) for c in colour)


def draw_person(img: np.ndarray, label: np.ndarray, person: Person, t: float,
                pid: int) -> None:
    """Draw one figure, back parts first; also fill ``label`` with pid."""
    xy, z, extra = person.pose(t)
    h = person.h
    k = {n: i for i, n in enumerate(KEYPOINTS)}
    parts = []  # (depth, kind, args)
    torso = np.array([
        xy[k['left_shoulder']], xy[k['right_shoulder']], xy[k['right_hip']],
        xy[k['left_hip']]
    ])
    parts.append((float(np.mean(z[[5, 6, 11,
                                   12]])), 'poly', torso, person.shirt, 0))
    for side, name in (('l', 'left'), ('r', 'right')):
        segs = (('upper_arm', 'shoulder', 'elbow'), ('forearm', 'elbow',
                                                     'wrist'),
                ('thigh', 'hip', 'knee'), ('shin', 'knee', 'ankle'))
        for seg, a, b in segs:
            ia, ib = k[f'{name}_{a}'], k[f'{name}_{b}']
            parts.append(
                ((z[ia] + z[ib]) / 2, 'line', np.stack([xy[ia], xy[ib]]),
                 LIMB_COLOURS[f'{side}_{seg}'], max(2,
                                                    int(LIMB_WIDTH[seg] * h))))
    head_c = extra['head_c']
    neck = extra['neck']
    parts.append(
        (float(neck[2]), 'line', np.stack([neck[:2],
                                           xy[k['head_bottom']]]), person.skin,
         max(2, int(0.04 * h))))
    parts.append((float(head_c[2]), 'head', head_c[:2], person.skin,
                  max(3, int(0.1 * h))))
    parts.sort(key=lambda p: p[0])
    scale = 16  # fixed-point sub-pixel drawing
    for depth, kind, pts, colour, width in parts:
        col = shade(colour, depth, h)
        dark = tuple(int(c * 0.55) for c in col)
        ip = np.round(np.asarray(pts) * scale).astype(np.int32)
        if kind == 'poly':
            cv2.fillPoly(img, [ip], col, cv2.LINE_AA, shift=4)
            cv2.polylines(img, [ip], True, dark, 2, cv2.LINE_AA, shift=4)
            if label is not None:
                cv2.fillPoly(label, [ip], pid, shift=4)
        elif kind == 'line':
            cv2.line(
                img,
                tuple(ip[0]),
                tuple(ip[1]),
                dark,
                width + 2,
                cv2.LINE_AA,
                shift=4)
            cv2.line(
                img,
                tuple(ip[0]),
                tuple(ip[1]),
                col,
                width,
                cv2.LINE_AA,
                shift=4)
            if label is not None:
                cv2.line(
                    label, tuple(ip[0]), tuple(ip[1]), pid, width, shift=4)
        else:
            r = width * scale
            cv2.circle(img, tuple(ip), r, col, -1, cv2.LINE_AA, shift=4)
            cv2.circle(img, tuple(ip), r, dark, 2, cv2.LINE_AA, shift=4)
            if label is not None:
                cv2.circle(label, tuple(ip), r, pid, -1, shift=4)
    # the nose as a dark dot shows where the figure faces
    nose = np.round(xy[k['nose']] * scale).astype(np.int32)
    cv2.circle(
        img,
        tuple(nose),
        max(1, int(0.02 * h)) * scale, (30, 30, 30),
        -1,
        cv2.LINE_AA,
        shift=4)


class Occluder:
    """A textured box that hides what is behind it, maybe only briefly."""

    def __init__(self, rng: np.random.Generator, size: Tuple[int, int],
                 nframes: int, target_x: float):
        w, h = size
        self.brief = bool(rng.random() < 0.5)
        if self.brief:  # flies through for a few frames
            dur = int(rng.integers(3, 9))
            self.t0 = int(rng.integers(0, max(1, nframes - dur)))
            self.t1 = self.t0 + dur
            self.bw = rng.uniform(0.12, 0.25) * w
            self.bh = rng.uniform(0.15, 0.35) * h
            self.vx = rng.choice([-1, 1]) * rng.uniform(0.02, 0.05) * w
            self.y = rng.uniform(0.2, 0.7) * h
        else:  # a pole or pillar people walk behind
            self.t0, self.t1 = 0, nframes
            self.bw = rng.uniform(0.04, 0.09) * w
            self.bh = rng.uniform(0.6, 1.0) * h
            self.vx = 0.0
            self.y = h - self.bh / 2
        mid = (self.t0 + self.t1) / 2
        self.x_mid = target_x
        self.mid = mid
        self.colour = tuple(int(c) for c in rng.integers(30, 230, size=3))
        self.stripe = tuple(int(c) for c in rng.integers(30, 230, size=3))

    def draw(self, img: np.ndarray, label: np.ndarray, t: float) -> None:
        if not (self.t0 <= t < self.t1):
            return
        cx = self.x_mid + self.vx * (t - self.mid)
        x1, x2 = int(cx - self.bw / 2), int(cx + self.bw / 2)
        y1, y2 = int(self.y - self.bh / 2), int(self.y + self.bh / 2)
        cv2.rectangle(img, (x1, y1), (x2, y2), self.colour, -1)
        step = max(4, int(self.bw / 4))
        for y in range(y1, y2, 2 * step):
            cv2.rectangle(img, (x1, y), (x2, y + step // 2), self.stripe, -1)
        if label is not None:
            cv2.rectangle(label, (x1, y1), (x2, y2), 255, -1)


def background(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A smooth random backdrop with a floor and a few static blocks."""
    w, h = size
    coarse = rng.uniform(60, 200, size=(4, 5, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 12, size=(h // 8 + 1, w // 8 + 1, 3))
    img += cv2.resize(fine.astype(np.float32), (w, h))
    floor = int(rng.uniform(0.6, 0.75) * h)
    img[floor:] = img[floor:] * 0.6 + rng.uniform(40, 120, size=3) * 0.4
    for _ in range(int(rng.integers(1, 4))):
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, floor))
        bw, bh = int(rng.uniform(0.05, 0.2) * w), int(
            rng.uniform(0.05, 0.3) * h)
        cv2.rectangle(img, (x, y), (x + bw, y + bh),
                      tuple(float(c) for c in rng.uniform(40, 220, 3)), -1)
    # muted, so that the figures stand out
    img = 128 + 0.6 * (img - 128)
    return np.clip(img, 0, 255).astype(np.float32)


def render(bg: np.ndarray, people: List[Person], occluders: List[Occluder],
           t: float, with_label: bool):
    """One sharp frame at time t; the label map marks who is on top."""
    img = bg.copy()
    label = np.zeros(bg.shape[:2], np.uint8) if with_label else None
    order = sorted(range(len(people)), key=lambda i: people[i].h)
    for i in order:  # taller (closer) figures drawn last
        draw_person(img, label, people[i], t, i + 1)
    for occ in occluders:
        occ.draw(img, label, t)
    return img, label


def make_video(rng: np.random.Generator, args, vid: int, split: str):
    """Frames, per-video annotation dict and detections of one video."""
    size, nframes = args.size, args.frames
    w, h = size
    name = f'{vid:06d}_synthetic'
    people = [
        Person(rng, size, nframes, (i, args.people))
        for i in range(args.people)
    ]
    targets = [p._root_x(nframes / 2) for p in people]
    # each occluder crosses the path of a different figure
    first = int(rng.integers(len(people)))
    occluders = [
        Occluder(
            rng, size, nframes,
            targets[(first + i) % len(targets)] + rng.uniform(-0.1, 0.1) * w)
        for i in range(args.occluders)
    ]
    bg = background(rng, size)
    images, anns, dets, frames = [], [], [], []
    for t in range(nframes):
        img_id = 10000000000 + vid * 10000 + t
        file_name = f'images/{split}/{name}/{t:06d}.jpg'
        labeled = t % args.label_stride == 0
        sharp, label = render(bg, people, occluders, t, True)
        if args.blur_samples > 1:
            acc = np.zeros_like(sharp)
            for s in np.linspace(-0.5, 0.5, args.blur_samples):
                acc += render(bg, people, occluders, t + args.exposure * s,
                              False)[0]
            frame = acc / args.blur_samples
        else:
            frame = sharp
        frame = frame + rng.normal(0, args.noise, size=frame.shape)
        frames.append((file_name, np.clip(frame, 0, 255).astype(np.uint8)))
        images.append(
            dict(
                id=img_id,
                file_name=file_name,
                width=w,
                height=h,
                vid_id=f'{vid:06d}',
                frame_id=img_id,
                nframes=nframes,
                is_labeled=labeled,
                has_no_densepose=True,
                ignore_regions_x=[],
                ignore_regions_y=[]))
        for pid, person in enumerate(people):
            xy, _, extra = person.pose(t)
            inside = ((xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < w)
                      & (xy[:, 1] < h))
            vis = inside.copy()
            vis[list(EARS)] = False
            occluded = np.zeros(len(KEYPOINTS), bool)
            for j in np.flatnonzero(vis):
                who = label[int(xy[j, 1]), int(xy[j, 0])]
                occluded[j] = who not in (0, pid + 1)
            box = _person_box(xy, extra, person.h)
            if vis.any():
                dets.append(
                    _detection(rng, box, vis, file_name, nframes, img_id,
                               args.det_noise, size))
            if not labeled or not vis.any():
                continue
            kpts = np.where(vis[:, None], xy, 0.0)
            head = _head_box(extra, person.h)
            anns.append(
                dict(
                    id=img_id * 100 + pid,
                    image_id=img_id,
                    track_id=pid,
                    category_id=1,
                    bbox=[round(float(v), 2) for v in box],
                    bbox_head=[round(float(v), 2) for v in head],
                    keypoints=[
                        round(float(v), 2) if i % 3 < 2 else int(v)
                        for i, v in enumerate(
                            np.concatenate([kpts, vis[:,
                                                      None]], 1).reshape(-1))
                    ],
                    num_keypoints=int(vis.sum()),
                    occluded=[int(o) for o in occluded],
                    iscrowd=False,
                    scores=[]))
        if rng.random() < args.false_positive_rate:
            fw, fh = rng.uniform(0.1, 0.3) * w, rng.uniform(0.2, 0.5) * h
            dets.append(
                dict(
                    image_name=file_name,
                    bbox=[
                        round(float(rng.uniform(0, w - fw)), 2),
                        round(float(rng.uniform(0, h - fh)), 2),
                        round(float(fw), 2),
                        round(float(fh), 2)
                    ],
                    score=round(float(rng.uniform(0.05, 0.35)), 4),
                    nframes=nframes,
                    frame_id=img_id))
    ann = dict(
        info=dict(
            description='synthetic PoseTrack18-format video poses',
            generator='tools/make_synthetic_posetrack.py',
            seed=args.seed,
            motions=[p.motion for p in people]),
        images=images,
        annotations=anns,
        categories=[CATEGORY])
    return name, frames, ann, dets


CATEGORY = dict(
    supercategory='person',
    id=1,
    name='person',
    keypoints=KEYPOINTS,
    skeleton=SKELETON)


def _person_box(xy, extra, h) -> List[float]:
    """xywh box around the body joints and the head, 10% padding."""
    head = extra['head_c'][:2]
    r = 0.1 * h
    pts = np.concatenate(
        [np.delete(xy, list(EARS), axis=0), [head - r, head + r]])
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    pw, ph = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    return [x1 - pw, y1 - ph, x2 - x1 + 2 * pw, y2 - y1 + 2 * ph]


def _head_box(extra, h) -> List[float]:
    head = extra['head_c'][:2]
    r = 0.1 * h
    return [head[0] - r, head[1] - r, 2 * r, 2 * r]


def _detection(rng, box, vis, file_name, nframes, img_id, noise, size):
    """A detector-like box: jittered GT box, score from visibility."""
    x, y, bw, bh = box
    cx = x + bw / 2 + rng.normal(0, noise) * bw
    cy = y + bh / 2 + rng.normal(0, noise) * bh
    bw *= float(np.exp(rng.normal(0, noise)))
    bh *= float(np.exp(rng.normal(0, noise)))
    score = float(
        np.clip(0.5 + 0.5 * vis.mean() + rng.normal(0, 0.08), 0.05, 0.999))
    return dict(
        image_name=file_name,
        bbox=[
            round(float(cx - bw / 2), 2),
            round(float(cy - bh / 2), 2),
            round(float(bw), 2),
            round(float(bh), 2)
        ],
        score=round(score, 4),
        nframes=nframes,
        frame_id=img_id)


def write_split(args, split: str, split_idx: int) -> dict:
    """Write one split; returns a small summary."""
    merged = dict(images=[], annotations=[], categories=[CATEGORY])
    all_dets = []
    ann_dir = osp.join(args.out, 'annotations', split)
    os.makedirs(ann_dir, exist_ok=True)
    n_occ = n_kpt = 0
    for v in range(args.videos):
        vid = split_idx * 100000 + v + 1
        rng = np.random.default_rng([args.seed, split_idx, v])
        name, frames, ann, dets = make_video(rng, args, vid, split)
        for file_name, img in frames:
            path = osp.join(args.out, file_name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        with open(osp.join(ann_dir, f'{name}.json'), 'w') as f:
            json.dump(ann, f)
        merged['images'] += ann['images']
        merged['annotations'] += ann['annotations']
        all_dets += dets
        for a in ann['annotations']:
            n_occ += sum(a['occluded'])
            n_kpt += a['num_keypoints']
    merged['info'] = dict(
        description='synthetic PoseTrack18-format video poses',
        generator='tools/make_synthetic_posetrack.py',
        seed=args.seed)
    with open(
            osp.join(args.out, 'annotations', f'posetrack18_{split}.json'),
            'w') as f:
        json.dump(merged, f)
    with open(osp.join(args.out, 'annotations', f'{split}_boxes.json'),
              'w') as f:
        json.dump(all_dets, f)
    return dict(
        split=split,
        videos=args.videos,
        images=len(merged['images']),
        persons=len(merged['annotations']),
        detections=len(all_dets),
        labelled_keypoints=n_kpt,
        occluded_keypoints=n_occ)


def parse_size(text: str) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must be WxH, got {text!r}')
    if w < 32 or h < 32:
        raise argparse.ArgumentTypeError('size must be at least 32x32')
    return w, h


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output data root')
    p.add_argument(
        '--videos', type=int, required=True, help='videos per split')
    p.add_argument('--seed', type=int, required=True)
    p.add_argument(
        '--frames', type=int, default=30, help='frames per video (default 30)')
    p.add_argument(
        '--people', type=int, default=3, help='figures per video (default 3)')
    p.add_argument(
        '--size',
        type=parse_size,
        default=(384, 288),
        help='frame size WxH (default 384x288)')
    p.add_argument(
        '--splits',
        nargs='+',
        default=['val'],
        choices=['train', 'val'],
        help='default: val')
    p.add_argument(
        '--label-stride',
        type=int,
        default=1,
        help='label every n-th frame (default 1: all)')
    p.add_argument(
        '--occluders',
        type=int,
        default=2,
        help='occluders per video (default 2)')
    p.add_argument(
        '--blur-samples',
        type=int,
        default=3,
        help='sub-frame renders averaged for motion blur; 1 = '
        'sharp (default 3)')
    p.add_argument(
        '--exposure',
        type=float,
        default=0.8,
        help='exposure time in frames for the blur (default 0.8)')
    p.add_argument(
        '--noise', type=float, default=3.0, help='pixel noise std (default 3)')
    p.add_argument(
        '--quality', type=int, default=90, help='JPEG quality (default 90)')
    p.add_argument(
        '--det-noise',
        type=float,
        default=0.05,
        help='relative jitter of detection boxes (default 0.05)')
    p.add_argument(
        '--false-positive-rate',
        type=float,
        default=0.3,
        help='chance of one low-score false box per frame')
    args = p.parse_args(argv)
    for name in ('videos', 'frames', 'people', 'label_stride', 'blur_samples'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.frames >= 10000:
        p.error('--frames must be < 10000 (PoseTrack image id scheme)')
    return args


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    summary = [
        write_split(args, split, idx)
        for idx, split in enumerate(['train', 'val']) if split in args.splits
    ]
    for s in summary:
        print(json.dumps(s))
    return summary


if __name__ == '__main__':
    main()
