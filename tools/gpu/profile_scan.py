"""One fused STS6D scan forward+backward between cudaProfilerStart/Stop.

For Nsight Compute on the GPU machine (docs/benchmark.md), e.g.::

    ncu --clock-control none --profile-from-start off \
        --section SpeedOfLight --section WarpStateStats \
        python3 tools/gpu/profile_scan.py --batch 4

The kernels are compiled and run once before the profiled call, so the
profile holds exactly one launch of each kernel per pair.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
from benchmark import enter_package, run_scan, scan_inputs  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--dm', type=int, default=512)
    parser.add_argument('--grid', default='5,64,48')
    parser.add_argument('--forward-only', action='store_true')
    args = parser.parse_args()
    enter_package()
    grid = tuple(int(v) for v in args.grid.split(','))
    x = scan_inputs(args.batch, args.dm, 16, grid, 6, torch.bfloat16, 'cuda')
    fn = run_scan(x, 'triton', grid, not args.forward_only)
    fn()  # compile
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    fn()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()
    print('profiled one call:', vars(args))


if __name__ == '__main__':
    main()
