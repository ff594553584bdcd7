"""Where the time of one GSM block goes: torch.profiler over fwd+bwd.

Prints the CUDA kernels that take the most device time for one
forward+backward of a GSMBlock (bf16 autocast), per scan backend, e.g.::

    python3 tools/gpu/profile_block.py --backends mamba_ssm,triton

Companion of tools/benchmark.py (which times, this one attributes).
"""
import argparse
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
import benchmark  # noqa: E402
from benchmark import enter_package, fwd_bwd, model_cfg  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--width', type=int, default=192)
    parser.add_argument('--grid', default='5,64,48')
    parser.add_argument('--backends', default='mamba_ssm')
    parser.add_argument('--top', type=int, default=25)
    parser.add_argument('--by-op', action='store_true',
                        help='attribute device time to the aten ops (with '
                        'input shapes) that launched it, not to kernels')
    benchmark.add_block_arguments(parser)
    args = parser.parse_args()
    benchmark.set_block_arguments(args)
    enter_package()
    from mmpose_stmamba.models.necks.gsm_block import GSMBlock
    t, h, w = (int(v) for v in args.grid.split(','))
    cfg = dict(model_cfg()['neck']['gsm_cfg'])
    for backend in args.backends.split(','):
        torch.manual_seed(0)
        block = GSMBlock(args.width, num_frames=t, scan_backend=backend,
                         **cfg).cuda()
        x = torch.randn(args.batch, t, h, w, args.width,
                        device='cuda').requires_grad_(True)
        fn = fwd_bwd(block, x, 'cuda')
        for _ in range(2):
            fn()
        torch.cuda.synchronize()
        acts = [ProfilerActivity.CUDA] + ([ProfilerActivity.CPU]
                                          if args.by_op else [])
        with profile(activities=acts, record_shapes=args.by_op) as prof:
            fn()
            torch.cuda.synchronize()
        print(f'== GSMBlock width {args.width} B {args.batch} grid '
              f'{(t, h, w)} scan {backend}')
        sort = 'self_cuda_time_total' if args.by_op else 'cuda_time_total'
        table = prof.key_averages(group_by_input_shape=args.by_op)
        print(table.table(sort_by=sort, row_limit=args.top,
                          max_name_column_width=70))
        block = x = fn = None
        torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
