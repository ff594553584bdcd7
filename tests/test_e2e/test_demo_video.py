"""``tools/demo_video.py``: clips, boxes file, frame sources, detector,
and agreement with the data set pipeline.

References: tests for our video demo.  A randomly initialised demo model
is enough (saved as a checkpoint here): the tests check that the clips the
demo builds are the ones the data pipeline builds, not pose quality.
"""
import json
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from tool_loader import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'demo',
                  'glsmamba-demo_resnet18_posetrack18-samples-128x96.py')
VIDEO_DIR = osp.join(REPO, 'tests', 'data', 'posetrack18', 'videos',
                     '000001_mpiinew_test')
BOXES = osp.join(REPO, 'configs', 'demo', '000001_mpiinew_test_boxes.json')


def _load_tool():
    return load_tool('demo_video.py')


demo = _load_tool()


@pytest.fixture(scope='module')
def random_checkpoint(tmp_path_factory):
    """The demo model with random weights, saved as a runner would."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import MODELS

    import mmpose_stmamba  # noqa: F401
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    from mmpose_stmamba.datasets.metainfo import metainfo_file
    meta = parse_pose_metainfo(dict(from_file=metainfo_file('posetrack18')))
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=meta)), path)
    return str(path)


def test_clip_indices():
    offsets = (-2, -1, 0, 1, 2)
    assert demo.clip_indices(0, offsets, 5) == [0, 0, 0, 1, 2]
    assert demo.clip_indices(2, offsets, 5) == [0, 1, 2, 3, 4]
    assert demo.clip_indices(4, offsets, 5) == [2, 3, 4, 4, 4]
    assert demo.clip_indices(2, offsets, 5, online=True) == [0, 1, 2, 2, 2]
    assert demo.clip_indices(3, (-4, -2, 0), 5, online=True) == [0, 1, 3]
    assert demo.clip_indices(0, (0, ), 1) == [0]


def test_shipped_boxes_file():
    boxes = demo.load_boxes_file(BOXES, 5)
    assert sorted(boxes) == [0, 1, 2, 3, 4]
    for frame, entries in boxes.items():
        assert sorted(t for _, _, t in entries) == [0, 1, 2]
        for box, score, _ in entries:
            assert box.dtype == np.float32 and score == 1.0
            assert 0 <= box[0] < box[2] <= 1280
            assert 0 <= box[1] < box[3] <= 720


@pytest.mark.parametrize('content, field', [
    ('[1, 2]', 'boxes'),
    ('{"boxes": [{"frame": 5, "bbox": [0, 0, 1, 1]}]}', 'boxes[0].frame'),
    ('{"boxes": [{"frame": 0, "bbox": [0, 0, 1]}]}', 'boxes[0].bbox'),
    ('{"boxes": [{"frame": 0, "bbox": [5, 0, 1, 1]}]}', 'boxes[0].bbox'),
    ('{"boxes": [{"frame": 0, "bbox": [0, 0, 1, "a"]}]}', 'boxes[0].bbox'),
    ('{"boxes": [{"frame": 0, "bbox": [0, 0, 1, 1], "score": "x"}]}',
     'boxes[0].score'),
    ('{"bbox_format": "cxcywh", "boxes": []}', 'bbox_format'),
])
def test_bad_boxes_files_name_the_field(tmp_path, content, field):
    path = tmp_path / 'boxes.json'
    path.write_text(content)
    with pytest.raises(ValueError,
                       match=re.escape(f'{path}: field `{field}`')):
        demo.load_boxes_file(str(path), 5)


def test_xywh_boxes(tmp_path):
    path = tmp_path / 'boxes.json'
    path.write_text(json.dumps(dict(
        bbox_format='xywh', boxes=[dict(frame=1, bbox=[10, 20, 30, 40])])))
    (box, score, track), = demo.load_boxes_file(str(path), 2)[1]
    assert box.tolist() == [10, 20, 40, 60] and track is None


def test_frame_sources_agree():
    folder = demo.FrameSource(VIDEO_DIR)  # the .mp4 inside is skipped
    video = demo.FrameSource(osp.join(VIDEO_DIR,
                                      '000001_mpiinew_test.mp4'))
    assert len(folder) == len(video) == 5
    assert video.fps == pytest.approx(30, abs=0.5)
    for i in (0, 4, 2):
        a, b = folder[i], video[i]
        assert a.shape == b.shape == (720, 1280, 3)
        # the same frames, the mp4 lossy: small mean difference only
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 8
    assert osp.basename(folder.name(3)) == '000003.jpg'
    with pytest.raises(FileNotFoundError):
        demo.FrameSource(osp.join(VIDEO_DIR, 'nothing_here'))


def test_demo_matches_the_dataset_pipeline(tmp_path, random_checkpoint):
    """A clip built by the demo gives the same keypoints as the same
    person loaded by the data set (GT box, the key frame's neighbours
    missing on disk in both cases)."""
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS
    model, pipeline, offsets = demo.build_model(CONFIG, random_checkpoint,
                                                'cpu')
    cfg = Config.fromfile(CONFIG)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    info = dataset.get_data_info(0)
    with torch.no_grad():
        ref = model.test_step(pseudo_collate([dataset[0]]))[0]

    frames = tmp_path / 'frames'
    frames.mkdir()
    shutil.copy(info['img_path'], frames / '000000.jpg')
    boxes = tmp_path / 'boxes.json'
    boxes.write_text(json.dumps(dict(boxes=[dict(
        frame=0, bbox=np.asarray(info['bbox'][0]).tolist(),
        score=float(info['bbox_score'][0]))])))
    records = demo.main([
        str(frames), CONFIG, random_checkpoint, '--bbox-file', str(boxes),
        '--out', str(tmp_path / 'out.mp4'), '--no-progress'
    ])
    assert len(records) == 1
    np.testing.assert_allclose(
        records[0]['keypoints'], ref.pred_instances.keypoints[0], atol=0.01)
    assert records[0]['clip_frames'] == [0, 0, 0, 0, 0]


def test_online_gif(tmp_path, random_checkpoint):
    out = tmp_path / 'out.gif'
    pred_out = tmp_path / 'pred.json'
    records = demo.main([
        VIDEO_DIR, CONFIG, random_checkpoint, '--bbox-file', BOXES, '--out',
        str(out), '--pred-out', str(pred_out), '--online', '--no-progress',
        '--batch-size', '4'
    ])
    assert len(records) == 15
    for r in records:
        assert max(r['clip_frames']) == r['frame']  # nothing from the future
        assert r['clip_frames'][2] == r['frame']
        assert len(r['keypoints']) == 17
    saved = json.loads(pred_out.read_text())
    assert saved['online'] and saved['keypoint_names'][0] == 'nose'
    from PIL import Image
    with Image.open(out) as gif:
        assert gif.n_frames == 5 and gif.size == (1280, 720)


def test_detector_boxes_are_persons_after_nms():
    """mmdet integration with a randomly initialised RTMDet-nano (no
    weights can be downloaded here): boxes come back as float32 xyxy with
    scores, after the class filter and NMS."""
    pytest.importorskip('mmdet.apis')
    import mmpose
    det_cfg = osp.join(osp.dirname(mmpose.__file__), '.mim', 'demo',
                       'mmdetection_cfg',
                       'rtmdet_nano_320-8xb32_coco-person.py')
    torch.manual_seed(0)
    init_default_scope('mmpose')
    detector = demo.Detector(det_cfg, None, 'cpu', score_thr=0.0,
                             nms_thr=0.3)
    from mmengine.registry import DefaultScope
    assert DefaultScope.get_current_instance().scope_name == 'mmpose'
    frame = demo.FrameSource(VIDEO_DIR)[0]
    dets = detector(frame)
    assert dets, 'a random detector with threshold 0 still gives boxes'
    boxes = np.stack([b for b, _, _ in dets])
    assert boxes.dtype == np.float32 and boxes.shape[1] == 4
    from mmpose.structures.bbox import bbox_overlaps
    iou = bbox_overlaps(torch.from_numpy(boxes),
                        torch.from_numpy(boxes)).numpy()
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.3 + 1e-6


def test_main_with_a_detector(tmp_path, random_checkpoint):
    """``--det-config/--det-checkpoint`` end to end, with a randomly
    initialised RTMDet-nano saved as a checkpoint (score threshold 0, so
    its boxes reach the pose model)."""
    pytest.importorskip('mmdet.apis')
    import mmpose
    from mmdet.apis import init_detector
    det_cfg = osp.join(osp.dirname(mmpose.__file__), '.mim', 'demo',
                       'mmdetection_cfg',
                       'rtmdet_nano_320-8xb32_coco-person.py')
    torch.manual_seed(0)
    det_ckpt = tmp_path / 'rtmdet_random.pth'
    detector = init_detector(det_cfg, None, device='cpu')
    torch.save(dict(state_dict=detector.state_dict()),
               det_ckpt)
    init_default_scope('mmpose')
    pred_out = tmp_path / 'pred.json'
    records = demo.main([
        VIDEO_DIR, CONFIG, random_checkpoint, '--det-config', det_cfg,
        '--det-checkpoint', str(det_ckpt), '--det-score-thr', '0',
        '--det-max-persons', '2', '--out', str(tmp_path / 'out.mp4'),
        '--pred-out', str(pred_out), '--no-progress'
    ])
    # boxes from the detector reached the pose model, at most 2 a frame
    frames = [r['frame'] for r in records]
    assert set(frames) == set(range(5))
    assert all(frames.count(f) <= 2 for f in range(5))
    for r in records:
        x1, y1, x2, y2 = r['bbox']
        assert x2 > x1 and y2 > y1 and r['track_id'] is None
    assert (tmp_path / 'out.mp4').stat().st_size > 0
