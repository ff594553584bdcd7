#!/usr/bin/env python
"""Does the temporal modelling use time?  A synthetic occluded-video test.

The real benchmarks (PoseTrack, Sub-JHMDB) and ViTPose weights cannot be
had here, so this tool builds its own evidence:

1. It writes a train and a val split of synthetic PoseTrack18-format videos
   with ``tools/make_synthetic_posetrack.py`` (stick figures, motion blur
   on fast limbs), with that generator's occluders swapped for *flash
   occluders*: opaque boxes that sit on a joint of one figure for 1 to
   ``max_occlusion`` frames (3 by default).  Such a joint cannot be seen in
   its key frame, but it is seen in a frame within +-2 of it, i.e. inside
   the 5-frame clip.
2. It trains, with one small trainable encoder (ResNet-18 cut after its
   second stage, no pretrained weights) and one schedule, the variants of
   ``VARIANTS``: (a) the single-frame baseline (T = 1, no temporal block),
   (a') the same with the GSM+LRM neck run on T = 1 (spatial mixing only:
   separates "uses time" from "has more layers"), (b) GSM only,
   (c) GSM+LRM, and the ablations (d) ``merge='sum'`` and unified scan
   only.
3. It evaluates each on the val split with ``PoseTrackMAP`` (ground-truth
   boxes) and, from the prediction files that metric writes, the same AP
   restricted to occluded joints (and to the visible ones), using the
   numpy core of ``mmpose_stmamba.evaluation.posetrack_ap``.
4. It repeats that for several training seeds (3 by default; drawn at
   random unless ``--seed`` is given) and writes ``results.json``,
   ``results.md`` and ``results.png`` (bar plot, mean and spread) into
   ``--out``.

References: the variants follow the ablations of GLSMamba (Feng et al.,
ICCV 2025, Sec. 4); the evaluation is poseval's AP definition (see
``posetrack_ap``).  The occluded-joint AP is our own restriction of it:
the per-frame matching of predicted to GT people uses all joints, as
poseval does, and then only the detections of joints whose matched GT
joint is occluded enter the ranking; the GT count is the number of
occluded GT joints (predicted people matched to no GT person are left
out, as they carry no joint of the subset).

Usage::

    python tools/temporal_evidence.py --out work_dirs/evidence        # GPU
    python tools/temporal_evidence.py --tiny --out work_dirs/ev_tiny  # CPU
    python tools/temporal_evidence.py --seed 3 --variants single gsm_lrm

Sizes: the default is planned for one GPU within 10 minutes (six runs at
a time, ``--jobs``), ``--tiny`` for a CPU in a few minutes.  Any field of
a size can be overridden (``--iters``, ``--videos`` ...).
"""
import argparse
import contextlib
import copy
import datetime
import importlib.util
import json
import math
import multiprocessing
import os
import os.path as osp
import platform
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, List, Optional

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'gpu'))
from shim import install_shim  # noqa: E402  (tools/gpu/shim.py)

BASE_CONFIG = osp.join(REPO, 'configs', 'evidence',
                       'glsmamba-xs_resnet18-2stage_synthocc-128x96.py')
GENERATOR = osp.join(REPO, 'tools', 'make_synthetic_posetrack.py')

#: Variant name -> label, clip offsets and neck edits (None: no neck).
#: Edits are merged into the base config's neck dict.
VARIANTS = {
    'single': dict(
        label='(a) single frame, no temporal block', clip=1, neck=None),
    'single_neck': dict(
        label="(a') single frame + GSM+LRM (T=1)", clip=1, neck={}),
    'gsm': dict(label='(b) GSM only', clip=5, neck=dict(num_lrm=0)),
    'gsm_lrm': dict(label='(c) GSM+LRM', clip=5, neck={}),
    'sum_merge': dict(
        label="(d) GSM+LRM, merge='sum'", clip=5,
        neck=dict(gsm_cfg=dict(merge='sum'))),
    'unified_only': dict(
        label='(d) GSM+LRM, unified scan only', clip=5,
        neck=dict(gsm_cfg=dict(scans=('unified', )))),
}

#: Sizes.  ``frame_size`` is (w, h) of the rendered videos, ``input_size``
#: (w, h) of the crops; ``jobs`` runs train at the same time, each with
#: ``threads`` torch threads (None: the CPU cores shared out; one thread
#: on a small shared CPU avoids threads spinning against each other).
SIZES = {
    'default': dict(
        train_videos=40, val_videos=12, frames=30, people=2,
        occluders=30, frame_size=(256, 192), input_size=(96, 128),
        clip=5, embed_dims=64, d_state=8, iters=700, batch_size=32,
        lr=2e-3, jobs=6, workers=2, threads=None, seeds=3),
    'tiny': dict(
        train_videos=6, val_videos=2, frames=20, people=2, occluders=16,
        frame_size=(160, 120), input_size=(48, 64), clip=5, embed_dims=32,
        d_state=4, iters=30, batch_size=4, lr=3e-3, jobs=0, workers=0,
        threads=1, seeds=3),
}

#: Longest flash occlusion in frames: a 3-frame occlusion centred on the
#: key frame is seen by the frames at +-2 of a 5-frame clip.
MAX_OCCLUSION = 3
#: Version of the flash-occluder recipe, kept in the data stamp so that data
#: written by an older recipe is not reused.
OCCLUDER_RECIPE = 2


def log(msg: str) -> None:
    """Progress line on stdout, with the wall-clock time."""
    print(f'[{datetime.datetime.now():%H:%M:%S}] {msg}', flush=True)


# --------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------- #
def load_generator():
    """``tools/make_synthetic_posetrack.py`` as a module."""
    spec = importlib.util.spec_from_file_location('make_synthetic_posetrack',
                                                  GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def flash_occluders(gen, max_occlusion: int = MAX_OCCLUSION):
    """Swap the generator's occluders for brief ones placed on joints.

    The generator's own occluders fly through for 3-8 frames or stand
    still (poles) for the whole video, so many joints stay hidden longer
    than a 5-frame clip can bridge.  This replaces its ``Occluder`` by one
    that covers a joint of one figure for 1..``max_occlusion`` frames, and
    wraps ``Person`` to remember the figures of the video being made (the
    generator builds the figures, then the occluders).  Rendering,
    labelling (``occluded`` flags from the rendered label map) and file
    writing stay the generator's.

    Args:
        gen (module): The generator module (:func:`load_generator`).
        max_occlusion (int): Longest occlusion in frames.
            Defaults to :data:`MAX_OCCLUSION`.
    """
    figures: List = []
    base_person, base_occluder = gen.Person, gen.Occluder
    body = [i for i in range(len(gen.KEYPOINTS)) if i not in gen.EARS]

    class RecordedPerson(base_person):

        def __init__(self, rng, size, nframes, slot=(0, 1)):
            super().__init__(rng, size, nframes, slot)
            if slot[0] == 0:  # the first figure of a new video
                figures.clear()
            figures.append(self)

    class FlashOccluder(base_occluder):
        """A striped box on one joint of the figure nearest ``target_x``
        for 1..max_occlusion frames (the generator's ``draw`` is kept)."""

        def __init__(self, rng, size, nframes, target_x):
            who = min(figures,
                      key=lambda p: abs(p._root_x(nframes / 2) - target_x))
            dur = int(rng.integers(1, max_occlusion + 1))
            self.t0 = int(rng.integers(0, max(1, nframes - dur + 1)))
            self.t1 = self.t0 + dur
            self.mid = (self.t0 + self.t1 - 1) / 2
            xy, _, _ = who.pose(self.mid)
            joint = xy[int(rng.choice(body))]
            # 0.2-0.4 of the figure's height: often a whole forearm or
            # shin, so that the joint's in-frame neighbours are hidden too
            side = who.h * rng.uniform(0.2, 0.4, size=2)
            self.bw, self.bh = float(side[0]), float(side[1])
            # small offsets: the box still covers the joint
            self.x_mid = float(joint[0] + rng.uniform(-0.2, 0.2) * self.bw)
            self.y = float(joint[1] + rng.uniform(-0.2, 0.2) * self.bh)
            self.vx = 0.0
            self.brief = True
            self.colour = tuple(int(c) for c in rng.integers(30, 230, 3))
            self.stripe = tuple(int(c) for c in rng.integers(30, 230, 3))

    gen.Person, gen.Occluder = RecordedPerson, FlashOccluder
    try:
        yield
    finally:
        gen.Person, gen.Occluder = base_person, base_occluder


def _write_split(argv: List[str], split: str, max_occlusion: int) -> dict:
    """Write one split (runs in a worker process)."""
    gen = load_generator()
    args = gen.parse_args(argv)
    with flash_occluders(gen, max_occlusion):
        return gen.write_split(args, split, ['train', 'val'].index(split))


def make_data(root: str, size: dict, seed: int, jobs: int) -> dict:
    """Generate (or reuse) the train and val splits under ``root``.

    Args:
        root (str): Data root.
        size (dict): The size (see :data:`SIZES`).
        seed (int): Data seed.
        jobs (int): Processes (the two splits are written in parallel
            when > 1).

    Returns:
        dict: Per split, the generator's summary plus occlusion counts.
    """
    spec = dict(
        seed=seed, max_occlusion=MAX_OCCLUSION, recipe=OCCLUDER_RECIPE,
        **{k: size[k] for k in ('train_videos', 'val_videos', 'frames',
                                'people', 'occluders', 'frame_size')})
    stamp = osp.join(root, 'evidence_data.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            old = json.load(f)
        if old.get('spec') == json.loads(json.dumps(spec)):
            log(f'data: reusing {root}')
            return old['summary']
    common = [
        '--out', root, '--seed', str(seed), '--frames',
        str(size['frames']), '--people', str(size['people']),
        '--occluders', str(size['occluders']), '--size',
        '{}x{}'.format(*size['frame_size'])
    ]
    argvs = {
        split: common + ['--videos', str(size[f'{split}_videos']),
                         '--splits', split]
        for split in ('train', 'val')
    }
    t0 = time.time()
    if jobs > 1:
        ctx = multiprocessing.get_context('spawn')
        with ProcessPoolExecutor(2, mp_context=ctx) as pool:
            futs = {s: pool.submit(_write_split, a, s, MAX_OCCLUSION)
                    for s, a in argvs.items()}
            summary = {s: f.result() for s, f in futs.items()}
    else:
        summary = {
            s: _write_split(a, s, MAX_OCCLUSION)
            for s, a in argvs.items()
        }
    for split in summary:
        summary[split].update(occlusion_stats(
            osp.join(root, 'annotations', f'posetrack18_{split}.json')))
    log(f'data: wrote {root} in {time.time() - t0:.0f} s: ' + '; '.join(
        f"{s} {v['persons']} persons, {v['occluded_keypoints']} occluded "
        f"joints ({100 * v['recoverable_fraction']:.0f}% seen within +-2 "
        'frames)' for s, v in summary.items()))
    with open(stamp, 'w') as f:
        json.dump(dict(spec=spec, summary=summary), f, indent=1)
    return summary


def occlusion_stats(ann_file: str, reach: int = 2) -> dict:
    """How many occluded joints a +-``reach`` clip can see elsewhere.

    Args:
        ann_file (str): Merged PoseTrack18 annotation with ``occluded``.
        reach (int): Frames either side. Defaults to 2.

    Returns:
        dict: ``recoverable_fraction``: the share of occluded joints that
        are labelled and not occluded in a frame within +-``reach`` of the
        same track.
    """
    with open(ann_file) as f:
        data = json.load(f)
    frame_of = {img['id']: (img['vid_id'], int(osp.splitext(
        osp.basename(img['file_name']))[0])) for img in data['images']}
    seen = {}
    for ann in data['annotations']:
        vid, t = frame_of[ann['image_id']]
        vis = np.asarray(ann['keypoints']).reshape(-1, 3)[:, 2] > 0
        occ = np.asarray(ann['occluded'], bool)
        seen[(vid, ann['track_id'], t)] = (vis & ~occ, vis & occ)
    total = found = 0
    for (vid, track, t), (_, occ) in seen.items():
        if not occ.any():
            continue
        near = np.zeros_like(occ)
        for dt in range(-reach, reach + 1):
            other = seen.get((vid, track, t + dt))
            if dt and other is not None:
                near |= other[0]
        total += int(occ.sum())
        found += int((occ & near).sum())
    return dict(recoverable_fraction=found / total if total else float('nan'))


# --------------------------------------------------------------------- #
# evaluation
# --------------------------------------------------------------------- #
def occluded_flags(gt: dict) -> Dict[object, List[np.ndarray]]:
    """Per image id, each GT person's (15,) occluded flags, in the order
    ``posetrack_ap.parse_video`` lists the people."""
    from mmpose_stmamba.evaluation import posetrack_ap as pt
    cats = gt.get('categories') or []
    names = cats[0]['keypoints'] if cats else pt.POSETRACK_KEYPOINTS
    idx = pt.map_17_to_15(names)
    flags: Dict[object, List[np.ndarray]] = {}
    for ann in gt.get('annotations', []):
        if 'occluded' not in ann:
            raise ValueError(f'annotation {ann.get("id")} has no '
                             '"occluded" field')
        flags.setdefault(ann['image_id'], []).append(
            np.asarray(ann['occluded'], bool)[idx])
    return flags


def subset_ap(gt_dir: str, pred_dir: str, thr: float = 0.5) -> dict:
    """PoseTrack18 AP on all, occluded and visible GT joints.

    Args:
        gt_dir (str): Per-video GT files with ``occluded`` flags.
        pred_dir (str): Per-video prediction files of the same names (as
            ``PoseTrackMAP`` writes them).
        thr (float): PCKh threshold. Defaults to 0.5.

    Returns:
        dict: ``AP``, ``AP_occluded``, ``AP_visible`` (0-100, mean over
        the 15 joints that have GT in the subset) and the joint counts
        ``num_joints``, ``num_occluded``.
    """
    from mmpose_stmamba.evaluation import posetrack_ap as pt
    subsets = ('all', 'occluded', 'visible')
    scores = {s: [[] for _ in range(pt.NUM_JOINTS)] for s in subsets}
    labels = {s: [[] for _ in range(pt.NUM_JOINTS)] for s in subsets}
    n_gt = {s: np.zeros(pt.NUM_JOINTS) for s in subsets}
    names = sorted(f for f in os.listdir(gt_dir) if f.endswith('.json'))
    if not names:
        raise FileNotFoundError(f'no GT files in {gt_dir}')
    for name in names:
        with open(osp.join(gt_dir, name)) as f:
            gt = json.load(f)
        with open(osp.join(pred_dir, name)) as f:
            pred = json.load(f)
        flags = occluded_flags(gt)
        frames = pt.prepare_frames(
            pt.parse_video(gt), pt.parse_video(pred), 'posetrack18')
        for frame, gt_people, pr_people in frames:
            if frame['ignore']:
                raise ValueError(f'{name}: ignore regions are not supported '
                                 'by the occluded-joint AP')
            occ = flags[frame['image_id']]
            lab, gt_to_pred = pt.match_frame(gt_people, pr_people, thr)
            owner = {int(p): g for g, p in enumerate(gt_to_pred) if p >= 0}
            for i, p in enumerate(pr_people):
                g = owner.get(i)
                for j in np.flatnonzero(p['valid']):
                    keys = ['all']
                    if g is not None and gt_people[g]['valid'][j]:
                        keys.append('occluded' if occ[g][j] else 'visible')
                    for k in keys:
                        scores[k][j].append(p['score'][j])
                        labels[k][j].append(lab[i, j])
            for g, person in enumerate(gt_people):
                n_gt['all'] += person['valid']
                n_gt['occluded'] += person['valid'] & occ[g]
                n_gt['visible'] += person['valid'] & ~occ[g]
    out = {}
    for s, key in zip(subsets, ('AP', 'AP_occluded', 'AP_visible')):
        per_joint = pt.ap_from_detections(scores[s], labels[s], n_gt[s])
        ap = per_joint['ap'][:pt.NUM_JOINTS]
        # joints without GT in a subset (e.g. never occluded) are left out
        ap = ap[n_gt[s] > 0]
        out[key] = float(ap.mean()) if len(ap) else float('nan')
    out['num_joints'] = int(n_gt['all'].sum())
    out['num_occluded'] = int(n_gt['occluded'].sum())
    return out


# --------------------------------------------------------------------- #
# one training run
# --------------------------------------------------------------------- #
def clip_offsets(length: int) -> tuple:
    """Offsets of a clip of ``length`` frames centred on the key frame."""
    half = length // 2
    return tuple(range(-half, length - half))


def merge_dict(base: dict, edits: dict) -> dict:
    """Recursive dict update (a copy)."""
    out = copy.deepcopy(base)
    for k, v in edits.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dict(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def build_config(variant: str, size: dict, seed: int, data_root: str,
                 work_dir: str, scan_backend: str, workers: int) -> dict:
    """The MMEngine config (a plain dict) of one run.

    Args:
        variant (str): Key of :data:`VARIANTS`.
        size (dict): The size (see :data:`SIZES`).
        seed (int): Training seed.
        data_root (str): Data root.
        work_dir (str): Run folder.
        scan_backend (str): Selective-scan backend of the blocks.
        workers (int): Data loader workers per loader.

    Returns:
        dict: Config dict for ``Runner.from_cfg``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(BASE_CONFIG).to_dict()
    spec = VARIANTS[variant]
    clip = size['clip'] if spec['clip'] > 1 else 1
    offsets = clip_offsets(clip)
    w, h = size['input_size']
    codec = dict(cfg['codec'], input_size=(w, h),
                 heatmap_size=(w // 4, h // 4))
    model = cfg['model']
    model['head']['decoder'] = codec
    if spec['neck'] is None:
        model.pop('neck')
        model['head']['in_channels'] = cfg['encoder_channels']
    else:
        neck = merge_dict(model['neck'], spec['neck'])
        neck['num_frames'] = clip
        neck['embed_dims'] = size['embed_dims']
        model['head']['in_channels'] = size['embed_dims']
        neck['gsm_cfg']['d_state'] = size['d_state']
        neck['lrm_cfg']['d_state'] = size['d_state']
        for key in ('gsm_cfg', 'lrm_cfg'):
            neck[key] = dict(neck[key], scan_backend=scan_backend)
        model['neck'] = neck
    for split in ('train', 'test'):
        loader = cfg[f'{split}_dataloader']
        dataset = loader['dataset']
        dataset['data_root'] = data_root
        dataset['frame_offsets'] = offsets
        for step in dataset['pipeline']:
            if step['type'] == 'TopdownAffine':
                step['input_size'] = (w, h)
            if step['type'] == 'GenerateTarget':
                step['encoder'] = codec
        loader['num_workers'] = workers
        loader['persistent_workers'] = workers > 0
    cfg['train_dataloader']['batch_size'] = size['batch_size']
    cfg['test_evaluator'] = dict(
        type='PoseTrackMAP',
        ann_file=osp.join(data_root, 'annotations',
                          'posetrack18_val.json'),
        outfile_prefix=osp.join(work_dir, 'predictions'))
    iters = size['iters']
    warmup = max(1, min(50, iters // 10))
    cfg['train_cfg'] = dict(type='IterBasedTrainLoop', max_iters=iters,
                            val_interval=iters + 1)
    cfg['optim_wrapper']['optimizer']['lr'] = size['lr']
    cfg['param_scheduler'] = [
        dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup,
             end=iters, eta_min=size['lr'] / 100),
    ]
    cfg['default_hooks']['logger']['interval'] = max(1, min(50, iters // 5))
    cfg['randomness'] = dict(seed=seed)
    cfg['work_dir'] = work_dir
    cfg['experiment_name'] = f'{variant}_s{seed}'
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg.pop(key, None)
    return cfg


def run_one(job: dict) -> dict:
    """Train and evaluate one (variant, seed); runs in a worker process.

    MMEngine's log goes to ``<work_dir>/run.log`` (several runs may share
    the console) unless ``job['quiet']`` is false.

    Args:
        job (dict): ``variant``, ``seed``, ``cfg`` (see
            :func:`build_config`), ``threads``, ``quiet``, ``shim``
            (:func:`install_shim`), ``calibrate`` (train only, no test).

    Returns:
        dict: Metrics and timings of the run (``per_iter_s``: mean wall
        time of the training iterations after the first third).
    """
    if job['shim']:
        install_shim()
    import torch
    torch.set_num_threads(job['threads'])
    work_dir = job['cfg']['work_dir']
    os.makedirs(work_dir, exist_ok=True)
    with _redirect(osp.join(work_dir, 'run.log'), job['quiet']):
        from mmengine.config import Config
        from mmengine.hooks import Hook
        from mmengine.runner import Runner

        import mmpose_stmamba  # noqa: F401  (registers the plugin)

        class IterClock(Hook):
            """Wall-clock time after every training iteration."""

            def __init__(self):
                self.stamps = []

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                self.stamps.append(time.time())

        t0 = time.time()
        runner = Runner.from_cfg(Config(job['cfg']))
        clock = IterClock()
        runner.register_hook(clock, priority='LOWEST')
        params = sum(p.numel() for p in runner.model.parameters()
                     if p.requires_grad)
        runner.train()
        t_train = time.time() - t0
        stamps = clock.stamps
        k = len(stamps) // 3
        per_iter = (stamps[-1] - stamps[k]) / max(1, len(stamps) - 1 - k) \
            if len(stamps) > 1 else t_train
        out = dict(variant=job['variant'], seed=job['seed'],
                   params_M=params / 1e6, train_s=t_train,
                   per_iter_s=per_iter,
                   device=str(next(runner.model.parameters()).device))
        if not job.get('calibrate'):
            metrics = runner.test()
            data_root = job['cfg']['test_dataloader']['dataset'][
                'data_root']
            out.update(
                metric_AP=float(metrics['posetrack/AP']),
                **subset_ap(
                    osp.join(data_root, 'annotations', 'val'),
                    job['cfg']['test_evaluator']['outfile_prefix']))
        out['total_s'] = time.time() - t0
        del runner
    return out


@contextlib.contextmanager
def _redirect(path: str, quiet: bool):
    """Send this process's stdout/stderr to ``path`` while ``quiet``."""
    if not quiet:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, 'a') as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def pick_scan_backend(size: dict,
                      batch: int = 8,
                      device: Optional[str] = None,
                      candidates=('triton', 'mamba_ssm', 'torch')) -> tuple:
    """The fastest selective-scan backend that agrees with ``'torch'``.

    Runs the neck's two scans (STS6D over the clip, WSTS in windows) at
    the run's shapes with each candidate backend, checks the output and
    all gradients against ``'torch'`` (max error <= 1e-3 of the largest
    value) and times forward+backward.

    Args:
        size (dict): The size (clip, input size, width, state size).
        batch (int): Batch of the check. Defaults to 8.
        device (str, optional): Defaults to None: CUDA if present, else
            the answer is ``'auto'`` without a check.
        candidates (Sequence[str]): Backends to try.

    Returns:
        tuple: ``(backend, report)``, report: per backend, ``ms`` or
        ``error``.
    """
    import torch
    if device is None:
        if not torch.cuda.is_available():
            return 'auto', {}
        device = 'cuda'
    from mmpose_stmamba.ops.multi_scan import multi_order_scan
    w, h = size['input_size']
    grid = (size['clip'], h // 4, w // 4)
    dim, state = size['embed_dims'], size['d_state']
    length = int(np.prod(grid))
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*shape, scale=1.0, shift=0.0):
        x = torch.randn(*shape, device=device, generator=gen)
        return (x * scale + shift).requires_grad_()

    cases = []
    for orders, k in (('sts6d', 6), ('wsts', 2)):
        # A < 0 (a decaying state), as the blocks initialise it
        a = -torch.rand(k * dim, state, device=device, generator=gen) - .5
        cases.append((orders, [
            rand(batch, dim, length), rand(batch, k, dim, length, scale=.5),
            a.requires_grad_(),
            rand(batch, k, state, length), rand(batch, k, state, length),
            rand(k * dim), rand(k * dim, scale=.1)
        ]))

    def step(backend, orders, tensors):
        y = multi_order_scan(*tensors, True, orders=orders, grid=grid,
                             window=(8, 6), backend=backend)
        grads = torch.autograd.grad(y.square().sum(), tensors)
        return [y.detach()] + [g.detach() for g in grads]

    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    ref = {o: step('torch', o, t) for o, t in cases}
    report = {}
    for backend in candidates:
        try:
            for orders, tensors in cases:
                got = step(backend, orders, tensors)
                for a, b in zip(got, ref[orders]):
                    err = float((a - b).abs().max() / b.abs().max())
                    if not err <= 1e-3:
                        raise ValueError(
                            f'{orders}: relative error {err:.1e}')
            sync()
            t0 = time.time()
            for _ in range(3):
                for orders, tensors in cases:
                    step(backend, orders, tensors)
            sync()
            report[backend] = dict(ms=(time.time() - t0) / 3 * 1000)
        except Exception as err:  # unavailable, unsupported or wrong
            report[backend] = dict(error=f'{type(err).__name__}: {err}'[:300])
    ok = {b: r['ms'] for b, r in report.items() if 'ms' in r}
    if not ok:
        raise RuntimeError(f'no scan backend passed the check: {report}')
    best = min(ok, key=ok.get)
    log('scan backends (STS6D + WSTS fwd+bwd, batch {}): {} -> {}'.format(
        batch, ', '.join(f"{b} {r['ms']:.1f} ms" if 'ms' in r else
                         f"{b} failed ({r['error']})"
                         for b, r in report.items()), best))
    return best, report


# --------------------------------------------------------------------- #
# tables and plot
# --------------------------------------------------------------------- #
METRICS = ('AP', 'AP_occluded', 'AP_visible')


def summarise(runs: List[dict], variants: List[str]) -> List[dict]:
    """Mean and spread (sample std) over seeds, per variant."""
    rows = []
    for v in variants:
        mine = [r for r in runs if r['variant'] == v]
        if not mine:
            continue
        row = dict(variant=v, label=VARIANTS[v]['label'],
                   seeds=[r['seed'] for r in mine],
                   params_M=mine[0]['params_M'],
                   train_s=float(np.mean([r['train_s'] for r in mine])))
        for m in METRICS:
            vals = np.array([r[m] for r in mine], float)
            row[m] = float(vals.mean())
            row[m + '_std'] = float(vals.std(ddof=1)) if len(vals) > 1 \
                else 0.0
            row[m + '_runs'] = vals.tolist()
        rows.append(row)
    base = next((r for r in rows if r['variant'] == 'single'), None)
    for r in rows:
        for m in ('AP', 'AP_occluded'):
            r['delta_' + m] = (r[m] - base[m]) if base else float('nan')
    return rows


def target_check(rows: List[dict]) -> Optional[dict]:
    """Issue 10's target on the means: (c) beats (a) by >= 5 AP overall
    and by more on occluded joints.  Also the gain of (c) over (a'), the
    same neck on one frame: the part of the gain that comes from time."""
    by = {r['variant']: r for r in rows}
    if 'single' not in by or 'gsm_lrm' not in by:
        return None
    c = by['gsm_lrm']
    out = dict(gain_AP=c['AP'] - by['single']['AP'],
               gain_AP_occluded=c['AP_occluded'] -
               by['single']['AP_occluded'])
    out['met'] = bool(out['gain_AP'] >= 5
                      and out['gain_AP_occluded'] > out['gain_AP'])
    if 'single_neck' in by:
        out['temporal_gain_AP'] = c['AP'] - by['single_neck']['AP']
        out['temporal_gain_AP_occluded'] = (
            c['AP_occluded'] - by['single_neck']['AP_occluded'])
    return out


def markdown(rows: List[dict], info: dict) -> str:
    """The results table and a few lines about the run."""
    def pm(r, m):
        return f"{r[m]:.1f} ± {r[m + '_std']:.1f}"

    lines = [
        '| variant | T | params (M) | AP | AP occluded | AP visible | '
        'Δ AP vs (a) | Δ AP occ. vs (a) | train s/run |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        clip = 1 if VARIANTS[r['variant']]['clip'] == 1 else info['clip']
        lines.append(
            f"| {r['label']} | {clip} | {r['params_M']:.3f} | "
            f"{pm(r, 'AP')} | {pm(r, 'AP_occluded')} | "
            f"{pm(r, 'AP_visible')} | {r['delta_AP']:+.1f} | "
            f"{r['delta_AP_occluded']:+.1f} | {r['train_s']:.0f} |")
    t = info.get('target')
    lines += [
        '',
        f"Mean ± sample std over seeds {info['seeds']} (data seed "
        f"{info['data_seed']}); PoseTrack18 AP (PCKh@0.5, GT boxes) on "
        f"{info['val_persons']} val persons, of which "
        f"{info['val_occluded']} occluded joints "
        f"({100 * info['val_recoverable']:.0f}% of them visible within "
        '±2 frames).',
        f"Size `{info['size_name']}`: {info['size']}.",
        f"Machine: {info['machine']}. Wall time {info['wall_s']:.0f} s.",
    ]
    if t:
        lines.append(
            f"Target ((c) − (a) ≥ 5 AP and larger on occluded joints): "
            f"{'met' if t['met'] else 'not met'} (gain {t['gain_AP']:+.1f} "
            f"AP, {t['gain_AP_occluded']:+.1f} AP on occluded joints).")
        if 'temporal_gain_AP' in t:
            lines.append(
                f"Gain from time, (c) − (a') (the same neck on one frame): "
                f"{t['temporal_gain_AP']:+.1f} AP, "
                f"{t['temporal_gain_AP_occluded']:+.1f} AP on occluded "
                'joints.')
    return '\n'.join(lines) + '\n'


def bar_plot(rows: List[dict], runs: List[dict], path: str,
             title: str) -> None:
    """Grouped bars (AP, AP on occluded joints), std error bars, seeds as
    dots."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    x = np.arange(len(rows))
    width = 0.38
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 4.2))
    for k, (m, name) in enumerate((('AP', 'all joints'),
                                   ('AP_occluded', 'occluded joints'))):
        pos = x + (k - 0.5) * width
        ax.bar(pos, [r[m] for r in rows], width,
               yerr=[r[m + '_std'] for r in rows], capsize=3, label=name,
               alpha=0.85)
        for p, r in zip(pos, rows):
            vals = r[m + '_runs']
            ax.plot([p] * len(vals), vals, 'k.', ms=3)
    ax.set_xticks(x)
    ax.set_xticklabels([r['label'].replace(', ', ',\n', 1) for r in rows],
                       fontsize=7)
    ax.set_ylabel('PoseTrack AP (PCKh@0.5)')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> str:
    """One line naming the machine (CPU, GPU, torch)."""
    import torch
    text = f'{platform.machine()} {os.cpu_count()} CPU cores'
    if torch.cuda.is_available():
        text += ', ' + torch.cuda.get_device_name(0)
    else:
        text += ', no GPU'
    return text + f', torch {torch.__version__}'


# --------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------- #
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='work_dirs/temporal_evidence',
                   help='output folder (data/, runs/, results.*)')
    p.add_argument('--tiny', action='store_true',
                   help='CPU-sized run (a few minutes)')
    p.add_argument('--seed', type=int, default=None,
                   help='base seed: data seed, and training seeds seed, '
                   'seed+1, ...; drawn at random when omitted')
    p.add_argument('--num-seeds', type=int, default=None,
                   help='training seeds per variant (size default: 3)')
    p.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                   default=list(VARIANTS), help='default: all')
    p.add_argument('--jobs', type=int, default=None,
                   help='runs at a time in worker processes; 0 runs them '
                   'one by one in this process (size default)')
    p.add_argument('--time-budget', type=float, default=None,
                   help='seconds for all training and testing: time a few '
                   'iterations of the slowest variant first and lower '
                   '--iters to fit (never raise it)')
    p.add_argument('--scan-backend', default='auto',
                   help="selective-scan backend of the blocks: 'auto', "
                   "a backend name, or 'best' (the fastest one that agrees "
                   "with 'torch' on this GPU among --scan-candidates, see "
                   'pick_scan_backend)')
    p.add_argument('--scan-candidates', nargs='+',
                   default=['mamba_ssm', 'torch'],
                   help="backends tried by --scan-backend best (add "
                   "'triton' for the fused kernel; its first call compiles)")
    p.add_argument('--device', choices=('auto', 'cpu'), default='auto',
                   help="'cpu' hides the GPUs")
    p.add_argument('--shim', action='store_true',
                   help='answer mmcv.ops / xtcocotools imports with '
                   'placeholders where the compiled modules are missing '
                   '(mmcv-lite machines; see install_shim)')
    p.add_argument('--verbose', action='store_true',
                   help='MMEngine logs on the console (with --jobs 0)')
    p.add_argument('--from-json', default=None, metavar='RESULTS_JSON',
                   help='only rewrite results.md/.png from a results.json')
    for key, typ in (('iters', int), ('batch_size', int), ('lr', float),
                     ('train_videos', int), ('val_videos', int),
                     ('frames', int), ('people', int), ('occluders', int),
                     ('workers', int), ('clip', int), ('embed_dims', int),
                     ('d_state', int), ('threads', int)):
        p.add_argument('--' + key.replace('_', '-'), type=typ, default=None,
                       help=f'override the size\'s {key}')
    p.add_argument('--input-size', type=int, nargs=2, metavar=('W', 'H'),
                   default=None, help='crop size (multiple of 4)')
    p.add_argument('--frame-size', type=int, nargs=2, metavar=('W', 'H'),
                   default=None, help='rendered frame size')
    args = p.parse_args(argv)
    size_name = 'tiny' if args.tiny else 'default'
    size = dict(SIZES[size_name])
    for key in ('iters', 'batch_size', 'lr', 'train_videos', 'val_videos',
                'frames', 'people', 'occluders', 'workers', 'clip', 'jobs',
                'embed_dims', 'd_state', 'threads', 'input_size',
                'frame_size'):
        val = getattr(args, key)
        if val is not None:
            size[key] = tuple(val) if isinstance(val, list) else val
    if args.num_seeds is not None:
        size['seeds'] = args.num_seeds
    if min(size['seeds'], size['iters'], size['clip']) < 1:
        p.error('--num-seeds, --iters and --clip must be >= 1')
    if size['jobs'] < 0:
        p.error('--jobs must be >= 0')
    if any(v % 4 for v in size['input_size']):
        p.error(f'--input-size must be multiples of 4, got '
                f'{size["input_size"]}')
    return args, size_name, size


def write_results(out: str, result: dict, plot: bool = True) -> str:
    """results.json, results.md and (``plot``) results.png in ``out``."""
    rows, info = result['variants'], result['info']
    info['target'] = target_check(rows)
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(result, f, indent=1, default=_json_default)
    table = markdown(rows, info)
    with open(osp.join(out, 'results.md'), 'w') as f:
        f.write(table)
    if plot and rows:
        bar_plot(rows, result['runs'], osp.join(out, 'results.png'),
                 f"Synthetic occluded videos, {info['size_name']} size, "
                 f"{len(info['seeds'])} seeds\n{info['machine']}")
    return table


def pool_map(jobs: List[dict], pool: Optional[ProcessPoolExecutor],
             on_done) -> None:
    """Run :func:`run_one` on every job, in ``pool`` or, when it is None,
    one by one in this process; ``on_done(result, i)`` after each."""
    if pool is None:
        for i, job in enumerate(jobs):
            on_done(run_one(job), i)
        return
    futs = [pool.submit(run_one, job) for job in jobs]
    for i, fut in enumerate(as_completed(futs)):
        on_done(fut.result(), i)


def fit_iters(size: dict, variants: List[str], seeds: List[int],
              budget: float, make_job,
              pool: Optional[ProcessPoolExecutor]) -> dict:
    """Lower ``size['iters']`` so that all runs fit ``budget`` seconds.

    Times ``max(jobs, 1)`` simultaneous runs of the slowest variant (the
    clip variant with the most blocks) for 20 iterations, the way the real
    runs will share the machine, then assumes that a single-frame run
    costs 1/T of it per iteration, keeps 15 % in reserve and sets time
    aside for building and testing each wave of runs.  The result is
    never above ``size['iters']`` nor below 20.

    Returns:
        dict: The calibration: ``per_iter_s``, ``iters`` chosen, ...
    """
    slowest = next((v for v in ('gsm_lrm', 'sum_merge', 'unified_only',
                                'gsm') if v in variants), variants[0])
    n = max(size['jobs'], 1)
    calib_iters = 20
    t0 = time.time()
    res = []
    pool_map([
        dict(make_job(slowest, seeds[0] + 1000 + i, calib_iters, '_calib'),
             calibrate=True) for i in range(n)
    ], pool, lambda r, i: res.append(r))
    per_iter = max(r['per_iter_s'] for r in res)
    setup = max(r['train_s'] - calib_iters * r['per_iter_s'] for r in res)
    clip = size['clip']
    cost = sum(1.0 if VARIANTS[v]['clip'] > 1 else 1.0 / clip
               for v in variants) * len(seeds)
    # per wave of runs: building (the first build in a worker process
    # also imports and initialises the device, ``setup``) and a test pass
    waves = math.ceil(len(variants) * len(seeds) / n)
    overhead = setup + (waves - 1) * setup / 2 + waves * 10.0
    usable = budget - (time.time() - t0) - overhead
    iters = int(usable * n / (per_iter * cost * 1.15))
    chosen = min(size['iters'], max(20, iters))
    log(f'calibration: {slowest} at {per_iter * 1000:.0f} ms/iter with '
        f'{n} runs at a time, {setup:.0f} s setup; {len(variants)} '
        f'variants x {len(seeds)} seeds fit {iters} iterations in '
        f'{budget:.0f} s -> {chosen}')
    return dict(variant=slowest, per_iter_s=per_iter, setup_s=setup,
                fitted_iters=iters, iters=chosen,
                seconds=time.time() - t0)


def main(argv=None) -> dict:
    args, size_name, size = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
        print(write_results(osp.dirname(osp.abspath(args.from_json)),
                            result))
        return result
    if args.device == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    if args.shim:
        replaced = install_shim()
        if replaced:
            log(f'--shim: placeholders for {replaced}')
    t_start = time.time()
    base_seed = args.seed if args.seed is not None else \
        secrets.randbelow(2**31 - 2000)
    seeds = [base_seed + i for i in range(size['seeds'])]
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    log(f"size {size_name}: {size}; seeds {seeds}"
        f"{'' if args.seed is not None else ' (drawn at random)'}")
    jobs = size['jobs']
    data_root = osp.join(out, 'data')
    summary = make_data(data_root, size, base_seed, jobs)
    threads = size['threads'] or max(1, (os.cpu_count() or 1) //
                                     max(jobs, 1))
    scan_backend, scan_report = args.scan_backend, None
    if scan_backend == 'best':
        try:
            scan_backend, scan_report = pick_scan_backend(
                size, candidates=args.scan_candidates)
        except Exception as err:  # keep the benchmark running
            scan_backend, scan_report = 'torch', dict(error=repr(err))
            log(f'scan backend check failed ({err!r}); using torch')

    def make_job(variant, seed, iters, tag=''):
        run_size = dict(size, iters=iters)
        return dict(
            variant=variant, seed=seed, threads=threads, shim=args.shim,
            quiet=not (args.verbose and jobs == 0),
            cfg=build_config(variant, run_size, seed, data_root,
                             osp.join(out, 'runs' + tag,
                                      f'{variant}_s{seed}'),
                             scan_backend, size['workers']))

    # one pool for the calibration and the runs: each worker imports and
    # initialises the device once
    pool = ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context('spawn')) \
        if jobs > 0 else None
    calibration = None
    if args.time_budget:
        calibration = fit_iters(size, args.variants, seeds,
                                args.time_budget - (time.time() - t_start),
                                make_job, pool)
        size['iters'] = calibration['iters']
    queue = [
        make_job(v, s, size['iters']) for s in seeds for v in args.variants
    ]
    info = dict(
        seeds=seeds, data_seed=base_seed, size_name=size_name, size=size,
        clip=size['clip'], machine=machine(),
        val_persons=summary['val']['persons'],
        val_occluded=summary['val']['occluded_keypoints'],
        val_recoverable=summary['val']['recoverable_fraction'],
        scan_backend=scan_backend, scan_report=scan_report,
        calibration=calibration,
        command=' '.join([osp.relpath(__file__, REPO)] +
                         list(sys.argv[1:] if argv is None else argv)))
    runs = []

    def done(res, i):
        runs.append(res)
        left = (time.time() - t_start) / (i + 1) * (len(queue) - i - 1)
        log(f"[{i + 1}/{len(queue)}] {res['variant']} seed {res['seed']}: "
            f"AP {res['AP']:.1f}, occluded {res['AP_occluded']:.1f}, "
            f"visible {res['AP_visible']:.1f} ({res['train_s']:.0f} s "
            f"training, {res['per_iter_s'] * 1000:.0f} ms/iter on "
            f"{res['device']}; ~{left:.0f} s left)")
        # partial results after every run: a run cut short keeps them
        write_results(out, partial(runs), plot=False)

    def partial(runs):
        rows = summarise(runs, args.variants)
        info.update(wall_s=time.time() - t_start, target=target_check(rows),
                    complete=len(runs) == len(queue))
        return dict(info=info, data=summary, variants=rows, runs=runs)

    log(f"training {len(queue)} runs of {size['iters']} iterations, "
        f'{max(jobs, 1)} at a time')
    try:
        pool_map(queue, pool, done)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    result = partial(runs)
    table = write_results(out, result)
    print(table, flush=True)
    log(f'wrote {out}/results.{{json,md,png}} in {info["wall_s"]:.0f} s')
    return result


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, float) and math.isnan(obj):
        return None
    raise TypeError(f'not JSON serialisable: {type(obj)}')


if __name__ == '__main__':
    main()
