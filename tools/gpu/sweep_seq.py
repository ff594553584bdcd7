"""Launch-parameter sweep of the channel-per-lane fused scan (one GPU).

Times forward and forward+backward of ``scan_triton_seq`` (channels-last
bf16 inputs, B=32, T=5 at 64x48, N=16, STS6D) for a few (BLOCK_D, CHUNK,
SEG) choices and prints one line per case, e.g.::

    python3 tools/gpu/sweep_seq.py --dms 192,512
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
from benchmark import enter_package, measure, run_scan, scan_inputs  # noqa

FWD = [dict(BLOCK_D=32, CHUNK=8, num_warps=1),
       dict(BLOCK_D=16, CHUNK=8, num_warps=1),
       dict(BLOCK_D=8, CHUNK=8, num_warps=1)]
BWD = [dict(BLOCK_D=32, CHUNK=4, SEG=16, num_warps=1),
       dict(BLOCK_D=16, CHUNK=4, SEG=16, num_warps=1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dms', default='192,512')
    parser.add_argument('--batch', type=int, default=32)
    args = parser.parse_args()
    enter_package()
    from mmpose_stmamba.ops import scan_triton_seq as sq
    grid = (5, 64, 48)
    for dm in (int(v) for v in args.dms.split(',')):
        x = scan_inputs(args.batch, dm, 16, grid, 6, torch.bfloat16,
                        'cuda', channels_last=True)
        for fcfg in FWD:
            sq.SEQ_FWD_CFG.clear()
            sq.SEQ_FWD_CFG.update(fcfg)
            with torch.no_grad():
                m = measure(run_scan(x, 'triton', grid, False), max_reps=5)
            print(f'dm {dm} fwd {fcfg}: {m["ms"]:.1f} ms', flush=True)
        for bcfg in BWD:
            sq.SEQ_BWD_CFG.clear()
            sq.SEQ_BWD_CFG.update(bcfg)
            m = measure(run_scan(x, 'triton', grid, True), max_reps=5)
            print(f'dm {dm} fwd {sq.SEQ_FWD_CFG} + bwd {bcfg}: '
                  f'{m["ms"]:.1f} ms, {m["peak_gib"]:.2f} GiB', flush=True)
        x = None
        torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
