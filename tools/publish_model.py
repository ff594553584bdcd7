"""Publish a checkpoint: strip the training state, add the sha256 suffix.

References: the convention of MMPose's ``tools/misc/publish_model.py``
(``<name>-<sha8>.pth``); the work is done by
:func:`mmpose_stmamba.engine.publish.publish_checkpoint` (our code).

Example::

    python tools/publish_model.py work_dirs/demo/epoch_60.pth \\
        checkpoints/glsmamba_demo.pth
    # -> checkpoints/glsmamba_demo-1a2b3c4d.pth
"""
import argparse
import os.path as osp

from mmpose_stmamba.engine.publish import (KEPT_META, TRAINING_STATE_KEYS,
                                           publish_checkpoint)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Strip optimizer / scheduler / message-hub state from '
        f'a runner checkpoint (keys {", ".join(TRAINING_STATE_KEYS)}), keep '
        f'the weights and meta ({", ".join(KEPT_META)}), save it as '
        '<out stem>-<first 8 hex of sha256>.pth and print that path.')
    parser.add_argument('in_file', help='runner checkpoint to publish')
    parser.add_argument('out_file', help='output path ending in .pth; the '
                        'hash is inserted before .pth')
    parser.add_argument('--date', action='store_true',
                        help='also append _YYYYMMDD (UTC) after the hash')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.in_file):
        raise SystemExit(f'publish_model: no such file: {args.in_file}')
    final = publish_checkpoint(args.in_file, args.out_file,
                               add_date=args.date)
    print(final)
    return final


if __name__ == '__main__':
    main()
