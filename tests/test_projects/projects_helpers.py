"""Shared helpers of the project tests: load a project config, make it
small, run it with MMEngine's Runner on the bundled sample data.

References: the sample data of tests/data (MMPose test data, Apache-2.0,
see tests/data/README.md); MMEngine's ``Runner`` and ``Hook`` (the same
path ``mim train`` / ``mim test`` take).  Paths are absolute, so the tests
run from any working directory.
"""
import json
import math
import os.path as osp
import uuid

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PROJECTS = osp.join(ROOT, 'projects')
DATA = osp.join(ROOT, 'tests', 'data')
PT18 = osp.join(DATA, 'posetrack18')
PT18_ANN = osp.join(PT18, 'annotations', 'test_posetrack18_val.json')
PT18_DET = osp.join(PT18, 'annotations',
                    'test_posetrack18_human_detections.json')

#: small crops for 2 CPU cores: (w, h) input and heatmap; HRNet needs both
#: input sides divisible by 32
INPUT_SIZE = (64, 96)
HEATMAP_SIZE = (16, 24)


def project_config(project: str, name: str) -> Config:
    """Load ``projects/<project>/configs/<name>`` (imports its plugins)."""
    return Config.fromfile(osp.join(PROJECTS, project, 'configs', name))


def _walk(node, visit):
    """Call ``visit`` on every dict nested in ``node`` (dicts and lists)."""
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, visit)


def shrink_input(cfg: Config) -> None:
    """Set every codec and ``TopdownAffine`` to the small test crop."""

    def visit(d):
        if d.get('type') == 'TopdownAffine':
            d['input_size'] = INPUT_SIZE
        elif 'heatmap_size' in d:  # a heatmap codec
            d['input_size'] = INPUT_SIZE
            d['heatmap_size'] = HEATMAP_SIZE

    for key in ('model', 'train_dataloader', 'val_dataloader',
                'test_dataloader'):
        _walk(cfg[key], visit)


def sample_video_annotation(path: str) -> str:
    """Annotation of one person in the 5-frame sample video (key frame 2).

    The frames are real consecutive PoseTrack18 frames; the box is the
    hand-drawn one of track 0 in configs/demo/000001_mpiinew_test_boxes.json
    and the keypoints are made up inside it (the video has no public
    ground truth).  ``nframes`` is 5, so clips of up to t-2..t+2 find every
    frame on disk.
    """
    x1, y1, x2, y2 = 365, 278, 550, 590
    keypoints = []
    for k in range(17):
        visible = 0 if k in (3, 4) else 1  # ears: unlabelled, as PoseTrack
        u = x1 + (x2 - x1) * (0.3 + 0.4 * (k % 2))
        v = y1 + (y2 - y1) * (0.05 + 0.9 * k / 16)
        keypoints += [u * visible, v * visible, visible]
    img_id = 10000010002
    ann = dict(
        images=[
            dict(
                id=img_id,
                file_name='videos/000001_mpiinew_test/000002.jpg',
                width=1280,
                height=720,
                nframes=5,
                frame_id=img_id,
                vid_id='000001',
                is_labeled=True)
        ],
        annotations=[
            dict(
                id=img_id * 100,
                image_id=img_id,
                track_id=0,
                category_id=1,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                keypoints=keypoints,
                num_keypoints=15,
                iscrowd=False)
        ],
        categories=[dict(id=1, name='person')])
    with open(path, 'w') as f:
        json.dump(ann, f)
    return path


def small_loaders(cfg: Config,
                  train_dataset: dict,
                  test_dataset: dict,
                  batch_size: int = 1) -> None:
    """Point the loaders at sample data; one process, small batches."""
    for key, dataset in (('train_dataloader', train_dataset),
                         ('val_dataloader', test_dataset), ('test_dataloader',
                                                            test_dataset)):
        loader = cfg[key]
        loader.batch_size = batch_size
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.update(dataset)


class Probe(Hook):
    """Record what one training iteration and one test run did.

    Attributes after the run: ``before`` / ``after`` (state dicts around
    the first training iteration), ``batch`` (its data batch), ``outputs``
    (its log variables), ``test_metrics``, ``num_test_samples``.
    """

    priority = 'LOWEST'

    def __init__(self):
        self.before = self.after = self.batch = self.outputs = None
        self.test_metrics = None
        self.num_test_samples = 0

    @staticmethod
    def _state(runner):
        return {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.before is None:
            self.before = self._state(runner)
            self.batch = data_batch

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.after is None:
            self.after = self._state(runner)
            self.outputs = outputs

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None):
        self.num_test_samples += len(outputs)
        for sample in outputs:
            kpts = sample.pred_instances.keypoints
            assert kpts.shape[-1] == 2 and torch.isfinite(
                torch.as_tensor(kpts)).all(), 'bad predicted keypoints'

    def after_test_epoch(self, runner, metrics=None):
        self.test_metrics = metrics


def run_train_and_test(cfg: Config, work_dir: str) -> Probe:
    """One training epoch (the loaders hold one iteration's worth of
    samples), then ``runner.test()``; returns the probe.

    The checkpoint hook is removed (nothing is written but logs); the test
    checks instead that its ``save_best`` key is among the test metrics.
    """
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'test_{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    cfg.load_from = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_begin=2)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    runner = Runner.from_cfg(cfg)
    probe = Probe()
    runner.register_hook(probe)
    runner.train()
    runner.test()
    return probe


def changed(before: dict, after: dict, prefix: str) -> list:
    """Names under ``prefix`` whose tensors differ after the iteration."""
    return [
        k for k in before
        if k.startswith(prefix) and not torch.equal(before[k], after[k])
    ]


def assert_finite_loss(probe: Probe) -> float:
    """The training iteration's total loss, checked finite and > 0."""
    loss = float(torch.as_tensor(probe.outputs['loss']).detach())
    assert math.isfinite(loss) and loss > 0, probe.outputs
    return loss
