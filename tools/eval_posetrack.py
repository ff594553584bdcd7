# Copyright (c) mmpose_stmamba contributors. All rights reserved.
"""Evaluate PoseTrack predictions the way poseval does, without poseval.

References:
    Command-line counterpart of poseval's ``evaluate.py -e`` (multi-person
    pose AP) and of the PoseTrack21 kit's ``run_pose_estimation.py``; the
    AP is ``mmpose_stmamba.evaluation.posetrack_ap`` (see its header for
    the definition followed). Only numpy is needed: the core is imported
    from its file, so neither MMPose nor torch is loaded.

Example:
    python tools/eval_posetrack.py --gt-dir data/posetrack18/annotations/val \\
        --pred-dir work_dirs/preds --out ap.json
"""
import argparse
import importlib.util
import json
import math
import os.path as osp


def _load_core():
    path = osp.join(
        osp.dirname(osp.abspath(__file__)), '..', 'mmpose_stmamba',
        'evaluation', 'posetrack_ap.py')
    spec = importlib.util.spec_from_file_location('posetrack_ap', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='PoseTrack multi-person pose AP (poseval definition)')
    p.add_argument('--gt-dir', required=True, help='per-video GT jsons')
    p.add_argument('--pred-dir', required=True,
                   help='per-video prediction jsons, same file names')
    p.add_argument('--out', help='write the results here (json)')
    p.add_argument('--protocol', default='posetrack18',
                   choices=['posetrack18', 'posetrack21'],
                   help='poseval (PoseTrack17/18) or the PoseTrack21 kit')
    p.add_argument('--thr', type=float, default=0.5, help='PCKh threshold')
    return p.parse_args(argv)


def _clean(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def main(argv=None) -> dict:
    """Run the evaluation; returns the dict written to ``--out``."""
    args = parse_args(argv)
    pt = _load_core()
    res = pt.evaluate_dirs(args.gt_dir, args.pred_dir, args.protocol,
                           args.thr)
    out = {k: _clean(v) for k, v in res['ap'].items()}
    out['Precision'] = _clean(res['precision']['Total'])
    out['Recall'] = _clean(res['recall']['Total'])
    out['AccelErr'] = _clean(res['accel_err'])
    out['precision'] = {k: _clean(v) for k, v in res['precision'].items()}
    out['recall'] = {k: _clean(v) for k, v in res['recall'].items()}
    out['num_videos'] = res['num_videos']
    out['num_frames'] = res['num_frames']
    print(f'{res["num_videos"]} videos, {res["num_frames"]} evaluated '
          f'frames ({args.protocol})')
    print(pt.format_table(res['ap'], 'AP'))
    print(pt.format_table(res['precision'], 'Precision').split('\n')[1])
    print(pt.format_table(res['recall'], 'Recall').split('\n')[1])
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == '__main__':
    main()
