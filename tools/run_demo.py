"""`make demo`: train, test, publish and render a small GLSMamba on the
real sample clips bundled in tests/data.

Steps (each a subprocess; any failure stops the demo with a non-zero exit
status and names the step and its log file):

1. ``mim train mmpose configs/demo/<demo config> --work-dir <out>/train``
   (the ``ResumableEpochBasedTrainLoop``; a progress bar follows the log).
2. ``mim test mmpose <config> --checkpoint <out>/train/epoch_N.pth``: the
   PoseTrack mAP (``PoseTrackMAP``) on the clips it trained on.
3. ``tools/publish_model.py``: strip the training state, add the sha256
   suffix, then ``mim test`` again with the published checkpoint (the same
   numbers are expected).
4. ``tools/demo_video.py`` on the 5-frame sample video
   ``tests/data/posetrack18/videos/000001_mpiinew_test`` with its hand-drawn
   boxes (configs/demo/000001_mpiinew_test_boxes.json) -> an mp4.

What the demo proves: the data -> target -> model -> decode -> metric path
is wired right (a model that can memorise 14 persons must score near 100
mAP on them).  It is not a measure of accuracy: the demo model never saw
the sample video, and its poses there are rough.

Everything goes to ``demo_out/`` (git-ignored); a second run retrains.

References: our own script; the commands are MMPose's documented
``mim train`` / ``mim test`` entry points.
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(
    'configs', 'demo', 'glsmamba-demo_resnet18_posetrack18-samples-128x96.py')
SAMPLE_VIDEO = osp.join('tests', 'data', 'posetrack18', 'videos',
                        '000001_mpiinew_test', '000001_mpiinew_test.mp4')
SAMPLE_BOXES = osp.join('configs', 'demo', '000001_mpiinew_test_boxes.json')

_TRAIN_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')
_PUBLISHED = re.compile(r'^(.+-[0-9a-f]{8}(?:_\d{8})?\.pth)$', re.M)
_METRIC = re.compile(r'(posetrack/[A-Za-z ]+):\s+(-?[0-9.]+|nan)')


class StepFailed(RuntimeError):
    """A demo step exited non-zero."""


def _mim():
    """The ``mim`` next to this Python (the venv's), else on PATH."""
    here = osp.join(osp.dirname(sys.executable), 'mim')
    found = here if osp.exists(here) else shutil.which('mim')
    if not found:
        raise StepFailed('mim (openmim) not found next to '
                         f'{sys.executable} or on PATH')
    return found


def run_step(name, cmd, log_file, env, on_line=None):
    """Run ``cmd``, tee its output to ``log_file``, return the output.

    Args:
        name (str): Step name for messages.
        cmd (list[str]): The command.
        log_file (str): Where stdout and stderr go.
        env (dict): Environment of the subprocess.
        on_line (Callable, optional): Called with every output line.

    Returns:
        str: The whole output.
    """
    lines = []
    with open(log_file, 'w') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            log.write(line)
            log.flush()  # users may tail the log
            lines.append(line)
            if on_line is not None:
                on_line(line)
        rc = proc.wait()
    if rc != 0:
        tail = ''.join(lines[-15:])
        raise StepFailed(f'step "{name}" failed (exit status {rc}); full '
                         f'log: {log_file}\n--- last lines ---\n{tail}')
    return ''.join(lines)


def parse_metrics(output):
    """``{'posetrack/AP': 97.1, ...}`` from the last metrics line of a test
    log."""
    found = {}
    for line in output.splitlines():
        if 'posetrack/AP' in line:
            found = {k.strip(): float(v) for k, v in _METRIC.findall(line)}
    if 'posetrack/AP' not in found:
        raise StepFailed('no posetrack/AP in the test output')
    return found


def train(args, env, out, max_epochs):
    """Step 1: mim train, with a progress bar over iterations."""
    from tqdm import tqdm
    work = osp.join(out, 'train')
    if osp.isdir(work):
        shutil.rmtree(work)  # the demo retrains from scratch
    cmd = [_mim(), 'train', 'mmpose', args.config, '--work-dir', work]
    cmd += _cfg_options(args, max_epochs)
    bar = tqdm(total=max_epochs, desc='train', unit='epoch')

    def follow(line):
        m = _TRAIN_LINE.search(line)
        if m:
            epoch, it, n = (int(g) for g in m.groups())
            bar.n = epoch - 1 + it / n
            bar.refresh()

    try:
        run_step('train', cmd, osp.join(out, 'train.log'), env, follow)
    finally:
        bar.close()
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def _cfg_options(args, max_epochs):
    if args.max_epochs is None:
        return []
    # shorter schedule (tests): the cosine decay ends with training
    return ['--cfg-options', f'train_cfg.max_epochs={max_epochs}',
            f'train_cfg.val_interval={max_epochs}',
            f'param_scheduler.1.end={max_epochs}']


def test(args, env, out, checkpoint, tag):
    """mim test with a checkpoint; returns the metrics dict."""
    cmd = [_mim(), 'test', 'mmpose', args.config, '--checkpoint',
           checkpoint, '--work-dir', osp.join(out, f'test_{tag}')]
    output = run_step(f'test ({tag})', cmd,
                      osp.join(out, f'test_{tag}.log'), env)
    return parse_metrics(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--out', default='demo_out',
                        help='output folder (relative to the repo root)')
    parser.add_argument('--max-epochs', type=int, default=None,
                        help='shorten the schedule (tests); default: the '
                        'config\'s')
    parser.add_argument('--min-ap', type=float, default=95.0,
                        help='fail when the trained model scores below '
                        'this PoseTrack mAP on its own training clips')
    parser.add_argument('--video', default=SAMPLE_VIDEO)
    parser.add_argument('--bbox-file', default=SAMPLE_BOXES)
    args = parser.parse_args(argv)

    from mmengine.config import Config
    config = osp.join(REPO, args.config)
    if not osp.isfile(config):
        print(f'[demo] FAILED: no such config: {config}', file=sys.stderr)
        return 1
    cfg = Config.fromfile(config, import_custom_modules=False)
    max_epochs = args.max_epochs or cfg.train_cfg.max_epochs
    out = osp.join(REPO, args.out)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    # Small models on 2 cores: one intra-op thread per process (the data
    # loader runs in its own worker); several threads per process slowed
    # training ~5x on a busy machine.  A value set by the user wins.
    env.setdefault('OMP_NUM_THREADS', '1')
    env.setdefault('MKL_NUM_THREADS', '1')
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')

    times = {}
    t0 = time.time()
    try:
        print(f'[demo] 1/4 training {args.config} for {max_epochs} epochs '
              f'(log: {osp.join(args.out, "train.log")})', flush=True)
        ckpt = train(args, env, out, max_epochs)
        times['train'] = time.time() - t0

        t = time.time()
        print(f'[demo] 2/4 testing {osp.relpath(ckpt, REPO)}', flush=True)
        metrics = test(args, env, out, ckpt, 'trained')
        times['test'] = time.time() - t

        t = time.time()
        print('[demo] 3/4 publishing and testing the published checkpoint',
              flush=True)
        stem = osp.splitext(osp.basename(args.config))[0]
        output = run_step('publish', [
            sys.executable,
            osp.join('tools', 'publish_model.py'), ckpt,
            osp.join(out, 'published', stem + '.pth')
        ], osp.join(out, 'publish.log'), env)
        named = _PUBLISHED.findall(output)
        if not named:
            raise StepFailed('publish_model.py printed no published path')
        published = named[-1]
        published_metrics = test(args, env, out, published, 'published')
        times['publish+test'] = time.time() - t

        t = time.time()
        video = osp.join(out, 'demo_video.mp4')
        print(f'[demo] 4/4 rendering {args.video}', flush=True)
        run_step('video', [
            sys.executable, osp.join('tools', 'demo_video.py'), args.video,
            args.config, published, '--bbox-file', args.bbox_file, '--out',
            video, '--pred-out', osp.join(out, 'demo_video_predictions.json')
        ], osp.join(out, 'video.log'), env)
        times['video'] = time.time() - t
    except StepFailed as e:
        print(f'[demo] FAILED: {e}', file=sys.stderr)
        return 1
    times['total'] = time.time() - t0

    summary = dict(
        config=args.config, epochs=max_epochs,
        checkpoint=osp.relpath(ckpt, REPO),
        published_checkpoint=osp.relpath(published, REPO),
        metrics_trained=metrics, metrics_published=published_metrics,
        video=osp.relpath(video, REPO), seconds=times)
    metrics_file = osp.join(out, 'metrics.json')
    with open(metrics_file, 'w') as f:
        json.dump(summary, f, indent=2)
    ap = metrics['posetrack/AP']
    print('\n[demo] PoseTrack mAP on the training clips (they prove the '
          'wiring, not accuracy):')
    for k, v in metrics.items():
        print(f'    {k:24s} {v:7.2f}')
    print(f'[demo] metrics:   {osp.relpath(metrics_file, REPO)}')
    print(f'[demo] video:     {osp.relpath(video, REPO)}')
    print(f'[demo] checkpoint {osp.relpath(published, REPO)} (published)')
    print('[demo] time: ' + ', '.join(f'{k} {v:.0f} s'
                                      for k, v in times.items()))
    if published_metrics.get('posetrack/AP') != ap:
        print('[demo] FAILED: the published checkpoint scores '
              f'{published_metrics.get("posetrack/AP")} != {ap}',
              file=sys.stderr)
        return 1
    if ap < args.min_ap:
        print(f'[demo] FAILED: mAP {ap:.2f} < {args.min_ap} on the clips '
              'the model trained on: the pipeline is not wired right',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
