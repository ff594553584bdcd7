"""Where the activation memory of one block goes: tensors saved for backward.

Runs one forward of a GSMBlock (or the benchmark's attention block) under
bf16 autocast with ``torch.autograd.graph.saved_tensors_hooks`` and adds up
the bytes of every tensor autograd keeps for the backward (custom autograd
functions' ``save_for_backward`` included), per submodule that saved it.
Storages are counted once (views of one tensor, or one tensor saved by two
ops, go to the first module that saved it); parameters and the block's
input, which exist without the forward, are listed apart.  On CUDA it also
prints what the forward left allocated and the peak of forward+backward
(``max_memory_allocated``), the benchmark's peak.  E.g.::

    python3 tools/gpu/profile_memory.py --kinds gsm,attention --width 192

Companion of tools/benchmark.py (which measures the peak) and
tools/gpu/profile_block.py (which attributes the time).
"""
import argparse
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
import benchmark  # noqa: E402
from benchmark import AttentionBlock, enter_package, model_cfg  # noqa: E402

MIB = 2.0**20
# Rows of storages that exist without the forward (not in the total).
OUTSIDE = ('(parameters)', '(block input)')


def _build(kind, width, grid, batch, backend):
    t, h, w = grid
    if kind == 'attention':
        return AttentionBlock(width), torch.randn(batch, t * h * w, width)
    from mmpose_stmamba.models.necks.gsm_block import GSMBlock
    cfg = dict(model_cfg()['neck']['gsm_cfg'])
    return (GSMBlock(width, num_frames=t, scan_backend=backend, **cfg),
            torch.randn(batch, t, h, w, width))


def _module_scope(model, depth):
    """Forward hooks keeping the name of the innermost running submodule
    (cut to ``depth`` dotted parts); returns (current-name function,
    handles)."""
    stack = []
    handles = []
    for name, mod in model.named_modules():
        label = '.'.join(name.split('.')[:depth]) if name else '(block)'

        def pre(_mod, _inp, label=label):
            stack.append(label)

        def post(_mod, _inp, _out):
            stack.pop()

        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    return (lambda: stack[-1] if stack else '(block)'), handles


def saved_by_module(model, x, device, depth=2):
    """{label: [bytes, tensors, {(dtype, shape): bytes}]} of one forward's
    saved tensors, plus the forward's output (kept alive by the caller)."""
    current, handles = _module_scope(model, depth)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    inputs = {x.untyped_storage().data_ptr()}
    seen = set()
    table = OrderedDict()

    def pack(t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in seen and storage.nbytes() > 0:
            seen.add(key)
            label = ('(parameters)' if key in params else
                     '(block input)' if key in inputs else current())
            entry = table.setdefault(label, [0, 0, {}])
            entry[0] += storage.nbytes()
            entry[1] += 1
            shape = (str(t.dtype).replace('torch.', ''), tuple(t.shape))
            entry[2][shape] = entry[2].get(shape, 0) + storage.nbytes()
        return t

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with torch.autocast(device, dtype=torch.bfloat16):
                out = model(x)
    finally:
        for h in handles:
            h.remove()
    return table, out


def report(kind, table, shapes=2):
    total = sum(v[0] for k, v in table.items() if k not in OUTSIDE)
    lines = [f'== {kind}: saved for backward, {total / MIB:.0f} MiB '
             f'(besides parameters and the block input; "(block)": ops in '
             f'the block\'s own forward)']
    for label, (nbytes, count, by_shape) in sorted(
            table.items(), key=lambda kv: -kv[1][0]):
        top = sorted(by_shape.items(), key=lambda kv: -kv[1])[:shapes]
        desc = ', '.join(f'{d} {list(s)} {b / MIB:.0f}' for (d, s), b in top)
        lines.append(f'{label:28s} {nbytes / MIB:9.1f} MiB {count:4d} '
                     f'tensors  largest: {desc}')
    return '\n'.join(lines), total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kinds', default='gsm,attention')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--width', type=int, default=192)
    parser.add_argument('--grid', default='5,64,48', help='T,H,W')
    parser.add_argument('--backend', default='auto', help='scan backend')
    benchmark.add_block_arguments(parser)
    parser.add_argument('--depth', type=int, default=2,
                        help='dotted parts of the module names kept')
    parser.add_argument('--device', default='cuda')
    args = parser.parse_args(argv)
    benchmark.set_block_arguments(args)
    enter_package()
    grid = tuple(int(v) for v in args.grid.split(','))
    cuda = args.device == 'cuda'
    totals = {}
    for kind in args.kinds.split(','):
        torch.manual_seed(0)
        model, x = _build(kind, args.width, grid, args.batch, args.backend)
        model = model.to(args.device)
        x = x.to(args.device).requires_grad_(True)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        table, out = saved_by_module(model, x, args.device, args.depth)
        text, totals[kind] = report(kind, table)
        print(text)
        if cuda:
            after = torch.cuda.memory_allocated()
            out.float().square().mean().backward()
            torch.cuda.synchronize()
            print(f'{kind}: forward left {(after - before) / MIB:.0f} MiB '
                  f'allocated; fwd+bwd peak '
                  f'{(torch.cuda.max_memory_allocated() - before) / MIB:.0f}'
                  f' MiB above the model and input')
        model = x = out = table = None
    return totals


if __name__ == '__main__':
    main()
