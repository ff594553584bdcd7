"""Render a video top-down model's poses over a video or a frame folder.

Usage::

    python tools/demo_video.py INPUT CONFIG CHECKPOINT \\
        (--bbox-file BOXES.json | --det-config C --det-checkpoint K) \\
        --out OUT.mp4 [--online] [--pred-out PRED.json]

INPUT is a video file (anything OpenCV reads) or a folder of frames (image
files sorted by name).  For every frame and every person box, the clip is
built from the config's ``frame_offsets`` (``test_dataloader.dataset``;
default ``(-2, -1, 0, 1, 2)``), frame indices clamped to the video, the key
frame's box used to crop every frame of the clip (one affine, as in
training).  The clips run through the model's own test pipeline in batches;
the skeletons are drawn with MMPose's ``PoseLocalVisualizer`` and written as
``.mp4`` (OpenCV, ``mp4v``) or ``.gif`` (Pillow).

Person boxes come from an MMDetection detector (``mmdet.apis``; class
``--det-cat-id``, score above ``--det-score-thr``, NMS) or from a boxes
file, a JSON object (docs/demo.md)::

    {"bbox_format": "xyxy",              # or "xywh"; default "xyxy"
     "boxes": [{"frame": 0, "bbox": [x1, y1, x2, y2],
                "score": 1.0,            # optional, default 1.0
                "track_id": 0}, ...]}    # optional, only echoed

``frame`` is the 0-based index of the frame in INPUT (video order, or the
sorted file order of a folder).

``--online``: a clip uses only the key frame and earlier frames, as a live
stream allows: every offset > 0 is replaced by the key frame (the same
clamping as at the last frame of a video).  A model trained with future
frames then sees the key frame repeated where it expects t+1, t+2, which
degrades it; for live use train a config with ``frame_offsets`` <= 0 (e.g.
``(-4, -3, -2, -1, 0)``) and pass that config.

References: MMPose's ``demo/topdown_demo_with_mmdet.py`` (detector ->
top-down model -> ``PoseLocalVisualizer`` -> ``cv2.VideoWriter``) and 0.x
``collect_multi_frames`` (clip indices clamped to the video, an online mode
without future frames); the code is ours.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import OrderedDict

import numpy as np

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
DEFAULT_OFFSETS = (-2, -1, 0, 1, 2)


class FrameSource:
    """Random access to the frames of a video file or a frame folder.

    Decoded frames are kept in a small LRU cache, so building the clips of
    consecutive key frames decodes each frame about once.

    Args:
        path (str): Video file or folder of image files.
        cache (int): Frames kept decoded. Defaults to 16.
    """

    def __init__(self, path, cache=16):
        import mmcv
        self.path = path
        self._cache = OrderedDict()
        self._capacity = cache
        if osp.isdir(path):
            self.files = sorted(
                osp.join(path, f) for f in os.listdir(path)
                if f.lower().endswith(IMAGE_EXTS))
            if not self.files:
                raise FileNotFoundError(f'{path}: no image files '
                                        f'({", ".join(IMAGE_EXTS)})')
            self.reader = None
            self.fps = None
        elif osp.isfile(path):
            self.files = None
            self.reader = mmcv.VideoReader(path)
            self.fps = self.reader.fps
            if len(self.reader) == 0:
                raise ValueError(f'{path}: OpenCV reads no frames')
        else:
            raise FileNotFoundError(f'{path}: no such file or folder')

    def __len__(self):
        return len(self.files) if self.files is not None \
            else len(self.reader)

    def name(self, index):
        """A path naming frame ``index`` (the file, or ``video#index``)."""
        if self.files is not None:
            return self.files[index]
        return f'{self.path}#{index}'

    def __getitem__(self, index):
        """Frame ``index`` as an (H, W, 3) uint8 BGR array."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        import mmcv
        frame = mmcv.imread(self.files[index]) if self.files is not None \
            else self.reader.get_frame(index)
        if frame is None:
            raise IOError(f'{self.name(index)}: cannot decode frame {index}')
        self._cache[index] = frame
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return frame


def clip_indices(key, offsets, num_frames, online=False):
    """Frame indices of the clip around ``key``, clamped to the video.

    Args:
        key (int): Key frame index.
        offsets (Sequence[int]): Offsets relative to the key frame.
        num_frames (int): Frames in the video.
        online (bool): Never use a frame after ``key``. Defaults to False.

    Returns:
        list[int]: One index per offset.
    """
    last = key if online else num_frames - 1
    return [min(max(key + o, 0), last) for o in offsets]


def _field_error(file, field, problem):
    return ValueError(f'{file}: field `{field}`: {problem}')


def load_boxes_file(path, num_frames):
    """Read a boxes file (format in the module docstring).

    Args:
        path (str): The JSON file.
        num_frames (int): Frames in the input, to check ``frame``.

    Returns:
        dict: frame index -> list of ``(bbox xyxy (4,) float32, score,
        track_id or None)``.
    """
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not valid JSON: {e}') from None
    if not isinstance(data, dict) or not isinstance(data.get('boxes'), list):
        raise _field_error(path, 'boxes', 'expected an object with a list '
                           '"boxes"')
    fmt = data.get('bbox_format', 'xyxy')
    if fmt not in ('xyxy', 'xywh'):
        raise _field_error(path, 'bbox_format',
                           f'"xyxy" or "xywh", got {fmt!r}')
    out = {}
    for i, entry in enumerate(data['boxes']):
        where = f'boxes[{i}]'
        if not isinstance(entry, dict):
            raise _field_error(path, where, 'expected an object')
        frame = entry.get('frame')
        if not isinstance(frame, int) or not 0 <= frame < num_frames:
            raise _field_error(
                path, f'{where}.frame', f'an int in [0, {num_frames}) (the '
                f'input has {num_frames} frames), got {frame!r}')
        try:
            box = np.asarray(entry.get('bbox'), dtype=np.float32)
        except (TypeError, ValueError):
            box = np.zeros(0)
        if box.shape != (4, ) or not np.isfinite(box).all():
            raise _field_error(path, f'{where}.bbox',
                               f'4 finite numbers, got {entry.get("bbox")!r}')
        if fmt == 'xywh':
            box = np.array([box[0], box[1], box[0] + box[2],
                            box[1] + box[3]], dtype=np.float32)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise _field_error(path, f'{where}.bbox',
                               f'empty box {box.tolist()} ({fmt})')
        score = entry.get('score', 1.0)
        if not isinstance(score, (int, float)) or not np.isfinite(score):
            raise _field_error(path, f'{where}.score',
                               f'a number, got {score!r}')
        out.setdefault(frame, []).append(
            (box, float(score), entry.get('track_id')))
    return out


class Detector:
    """Person boxes from an MMDetection model, frame by frame.

    Args:
        config (str): mmdet config.
        checkpoint (str): mmdet checkpoint.
        device (str): Device.
        cat_id (int): Class index of "person". Defaults to 0 (COCO).
        score_thr (float): Minimum box score. Defaults to 0.5.
        nms_thr (float): IoU threshold of the NMS. Defaults to 0.3.
        max_persons (int, optional): Keep at most this many boxes per
            frame, the highest scoring. Defaults to None (all).
    """

    def __init__(self, config, checkpoint, device, cat_id=0, score_thr=0.5,
                 nms_thr=0.3, max_persons=None):
        try:
            from mmdet.apis import inference_detector, init_detector
        except ImportError as e:
            raise ImportError('--det-config needs mmdet (>= 3.0) with '
                              f'compiled mmcv ops: {e}') from e
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        from mmpose.utils import adapt_mmdet_pipeline
        cfg = adapt_mmdet_pipeline(Config.fromfile(config))
        # init_detector sets the global default scope to mmdet; restore
        # ours afterwards (the adapted pipeline names its mmdet transforms)
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.model = init_detector(cfg, checkpoint, device=device)
        self._infer = inference_detector
        self.cat_id = cat_id
        self.score_thr = score_thr
        self.nms_thr = nms_thr
        self.max_persons = max_persons

    def __call__(self, frame):
        """Boxes of one BGR frame: list of ``(xyxy, score, None)``."""
        from mmpose.evaluation.functional import nms
        pred = self._infer(self.model, frame).pred_instances.cpu()
        boxes = pred.bboxes.numpy()
        scores = pred.scores.numpy()
        keep = (pred.labels.numpy() == self.cat_id) & \
            (scores > self.score_thr)
        dets = np.concatenate([boxes[keep], scores[keep, None]], axis=1)
        dets = dets[nms(dets, self.nms_thr)] if len(dets) else dets
        if self.max_persons is not None:
            dets = dets[np.argsort(-dets[:, 4], kind='stable')]
            dets = dets[:self.max_persons]
        return [(d[:4].astype(np.float32), float(d[4]), None) for d in dets]


def build_model(config, checkpoint, device, cfg_options=None):
    """The pose model, its test pipeline and its clip offsets.

    Pretrained ``init_cfg`` entries are removed before building: the
    weights come from ``checkpoint``, and nothing is downloaded.

    Returns:
        tuple: ``(model, pipeline, offsets)``.
    """
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    _drop_pretrained(cfg.model)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model = init_model(cfg, checkpoint, device=device)
    dataset_cfg = cfg.test_dataloader.dataset
    offsets = tuple(dataset_cfg.get('frame_offsets', DEFAULT_OFFSETS))
    if 0 not in offsets:
        raise ValueError(f'{config}: frame_offsets {offsets} lack the key '
                         'frame 0')
    return model, Compose(dataset_cfg.pipeline), offsets


def _drop_pretrained(node):
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for value in node.values():
            _drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_pretrained(value)


class PoseVideoRunner:
    """Runs the pose model over (frame, box) clips in batches.

    Args:
        model: A pose estimator from :func:`build_model`.
        pipeline (Callable): Its test pipeline.
        offsets (Sequence[int]): Clip offsets.
        source (FrameSource): The frames.
        batch_size (int): Clips per forward pass. Defaults to 8.
        online (bool): No frames after the key frame. Defaults to False.
    """

    def __init__(self, model, pipeline, offsets, source, batch_size=8,
                 online=False):
        self.model = model
        self.pipeline = pipeline
        self.offsets = tuple(offsets)
        self.source = source
        self.batch_size = batch_size
        self.online = online
        self._next_id = 0

    def sample(self, key, box, score):
        """Pipeline output of the clip around frame ``key`` cropped at
        ``box`` (xyxy)."""
        indices = clip_indices(key, self.offsets, len(self.source),
                               self.online)
        info = dict(
            img=[self.source[i] for i in indices],
            img_path=self.source.name(key),
            frame_paths=[self.source.name(i) for i in indices],
            frame_offsets=self.offsets,
            frame_indices=indices,
            bbox=np.asarray(box, dtype=np.float32)[None],
            bbox_score=np.array([score], dtype=np.float32),
            id=self._next_id,
            img_id=key)
        self._next_id += 1
        info.update(self.model.dataset_meta)
        return self.pipeline(info)

    def predict(self, samples):
        """``model.test_step`` over a list of pipeline outputs."""
        import torch
        from mmengine.dataset import pseudo_collate
        out = []
        for start in range(0, len(samples), self.batch_size):
            batch = pseudo_collate(samples[start:start + self.batch_size])
            with torch.no_grad():
                out.extend(self.model.test_step(batch))
        return out

    def run(self, boxes_of, progress=True):
        """Predict every person of every frame, in frame order.

        Args:
            boxes_of (Callable): frame index -> list of ``(xyxy, score,
                track_id)``.
            progress (bool): Show a progress bar. Defaults to True.

        Yields:
            tuple: ``(frame index, list of (PoseDataSample, track_id))``;
            each data sample's metainfo has the clip's ``frame_indices``.
        """
        from tqdm import tqdm
        pending, owners = [], []  # samples and their (frame, track_id)
        done = OrderedDict()  # frame -> list, in frame order
        bar = tqdm(total=len(self.source), desc='pose', unit='frame',
                   disable=not progress, file=sys.stderr)
        for key in range(len(self.source)):
            done[key] = []
            for box, score, track in boxes_of(key):
                pending.append(self.sample(key, box, score))
                owners.append((key, track))
            if len(pending) >= self.batch_size or key == len(self.source) - 1:
                for pred, (frame, track) in zip(self.predict(pending),
                                                owners):
                    done[frame].append((pred, track))
                pending, owners = [], []
                while done:
                    frame, preds = done.popitem(last=False)
                    bar.update(1)
                    yield frame, preds
        bar.close()


class VideoSink:
    """Writes RGB frames to ``.mp4`` (OpenCV ``mp4v``) or ``.gif``."""

    def __init__(self, path, fps):
        ext = osp.splitext(path)[1].lower()
        if ext not in ('.mp4', '.gif'):
            raise ValueError(f'--out must end with .mp4 or .gif, got {path}')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path, self.fps, self.ext = path, fps, ext
        self._writer = None
        self._gif = []

    def write(self, rgb):
        if self.ext == '.gif':
            from PIL import Image
            self._gif.append(Image.fromarray(rgb))
            return
        import cv2
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._writer = cv2.VideoWriter(
                self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps, (w, h))
            if not self._writer.isOpened():
                raise IOError(f'{self.path}: OpenCV cannot open an mp4v '
                              'writer; try --out with .gif')
        self._writer.write(rgb[..., ::-1].copy())

    def close(self):
        if self._writer is not None:
            self._writer.release()
        if self._gif:
            self._gif[0].save(
                self.path, save_all=True, append_images=self._gif[1:],
                duration=int(round(1000 / self.fps)), loop=0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw a video pose model\'s predictions over a video or '
        'a frame folder (see the module docstring).')
    parser.add_argument('input', help='video file or folder of frames')
    parser.add_argument('config', help='pose model config')
    parser.add_argument('checkpoint', help='pose model checkpoint')
    boxes = parser.add_mutually_exclusive_group(required=True)
    boxes.add_argument('--bbox-file', help='person boxes JSON')
    boxes.add_argument('--det-config', help='mmdet detector config')
    parser.add_argument('--det-checkpoint', help='mmdet checkpoint')
    parser.add_argument('--det-cat-id', type=int, default=0,
                        help='detector class of "person" (COCO: 0)')
    parser.add_argument('--det-score-thr', type=float, default=0.5)
    parser.add_argument('--nms-thr', type=float, default=0.3)
    parser.add_argument('--det-max-persons', type=int, default=None,
                        help='keep at most this many boxes per frame')
    parser.add_argument('--out', required=True, help='.mp4 or .gif')
    parser.add_argument('--pred-out', help='also write predictions (JSON)')
    parser.add_argument('--online', action='store_true',
                        help='use no frame after the key frame')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--fps', type=float, default=None,
                        help='output frame rate (default: the video\'s, '
                        'or 10 for a frame folder)')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--radius', type=int, default=4)
    parser.add_argument('--thickness', type=int, default=2)
    parser.add_argument('--no-bbox', action='store_true',
                        help='do not draw the person boxes')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='override config keys, key=value (as in '
                        'MMPose tools)')
    args = parser.parse_args(argv)
    if args.det_config and not args.det_checkpoint:
        parser.error('--det-config needs --det-checkpoint')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def _cfg_options(items):
    if not items:
        return None
    from mmengine.config import DictAction
    ns = argparse.Namespace()
    DictAction(option_strings=[], dest='o')(None, ns, items)
    return ns.o


def _prediction_record(frame, pred, track):
    inst = pred.pred_instances
    return dict(
        frame=frame,
        track_id=track,
        clip_frames=[int(i) for i in pred.metainfo['frame_indices']],
        bbox=np.asarray(inst.bboxes[0]).round(2).tolist(),
        bbox_score=float(np.asarray(inst.bbox_scores).reshape(-1)[0]),
        keypoints=np.asarray(inst.keypoints[0]).round(2).tolist(),
        keypoint_scores=np.asarray(inst.keypoint_scores[0]).round(4)
        .tolist())


def main(argv=None):
    args = parse_args(argv)
    source = FrameSource(args.input)
    model, pipeline, offsets = build_model(
        args.config, args.checkpoint, args.device,
        _cfg_options(args.cfg_options))
    if args.online and max(offsets) > 0:
        from mmengine.logging import print_log
        print_log(
            f'--online: the config\'s frame_offsets {offsets} include '
            'future frames; the key frame stands in for them. Use a config '
            'trained with offsets <= 0 for live video.',
            logger='current', level=30)
    if args.bbox_file:
        per_frame = load_boxes_file(args.bbox_file, len(source))

        def boxes_of(i):
            return per_frame.get(i, [])
    else:
        detector = Detector(args.det_config, args.det_checkpoint,
                            args.device, args.det_cat_id,
                            args.det_score_thr, args.nms_thr,
                            args.det_max_persons)

        def boxes_of(i):
            return detector(source[i])

    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples
    vis_cfg = dict(model.cfg.visualizer)
    vis_cfg.update(radius=args.radius, line_width=args.thickness,
                   backend='matplotlib',
                   name='demo_video_visualizer')
    vis_cfg.pop('vis_backends', None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.set_dataset_meta(model.dataset_meta)

    fps = args.fps or source.fps or 10.0
    sink = VideoSink(args.out, fps)
    runner = PoseVideoRunner(model, pipeline, offsets, source,
                             args.batch_size, args.online)
    records = []
    try:
        for frame, preds in runner.run(boxes_of,
                                       progress=not args.no_progress):
            rgb = source[frame][..., ::-1].copy()
            if preds:
                visualizer.add_datasample(
                    'frame', rgb,
                    data_sample=merge_data_samples([p for p, _ in preds]),
                    draw_gt=False, draw_heatmap=False,
                    draw_bbox=not args.no_bbox, show=False,
                    kpt_thr=args.kpt_thr)
                rgb = visualizer.get_image()
            sink.write(rgb)
            records += [_prediction_record(frame, p, t) for p, t in preds]
    finally:
        sink.close()
    if args.pred_out:
        os.makedirs(osp.dirname(osp.abspath(args.pred_out)), exist_ok=True)
        with open(args.pred_out, 'w') as f:
            json.dump(dict(input=args.input, config=args.config,
                           checkpoint=args.checkpoint,
                           frame_offsets=list(offsets), online=args.online,
                           keypoint_names=[
                               model.dataset_meta['keypoint_id2name'][k]
                               for k in range(
                                   model.dataset_meta['num_keypoints'])
                           ],
                           predictions=records), f)
    print(f'wrote {args.out} ({len(source)} frames, {len(records)} poses)')
    return records


if __name__ == '__main__':
    main()
