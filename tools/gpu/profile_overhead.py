"""Is a small neck call bound by the host or by the device?

At batch 8 and 1/8 resolution the GLSMamba neck took about the same time
whatever T was (docs/benchmark.md, runs 23 and 26): fixed per-call costs.
This tool separates them, for one forward+backward (or, ``--no-grad``, one
inference forward) of the neck under bf16 autocast:

* ``host_ms``: the time the Python call takes to return without waiting
  for the device (the queue the host builds); ``wall_ms``: with a
  synchronize after it; ``busy_ms``: the union of the device's kernel
  intervals (profiler).  wall ~ host >> busy means host-bound (launches,
  Python), wall ~ busy means device-bound;
* ``kernels``: kernel launches per call, and which ops launch the most;
* ``syncs``: the calls that made the host wait for the device
  (``torch.cuda.set_sync_debug_mode``), each a stall of the queue.

``--cuda-graph`` (with ``--no-grad``) captures the inference forward once
in a CUDA graph and times its replays instead: what is left when the host
work per call is gone (the capture also fails loudly on any host wait).
Before timing, the replay is checked against an eager call on fresh input
values (``graph_max_abs_diff``): a graph that baked in the capture's
input, or skipped work, fails there instead of looking fast.

E.g.::

    python3 tools/gpu/profile_overhead.py --grid 5,32,24 --batch 8
    python3 tools/gpu/profile_overhead.py --grid 5,64,48 --batch 1 \
        --no-grad --cuda-graph
"""
import argparse
import os
import sys
import time
import warnings
from collections import Counter

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))
import benchmark  # noqa: E402
from benchmark import enter_package, fwd_bwd, neck_cfg  # noqa: E402


def build_neck(grid, batch, device):
    from mmpose_stmamba.models.necks.glsmamba_neck import GLSMambaNeck
    cfg = neck_cfg()
    t, h, w = grid
    torch.manual_seed(0)
    neck = GLSMambaNeck(num_frames=t, **cfg).to(device)
    x = torch.randn(batch, t, cfg['in_channels'], h, w, device=device)
    return neck, x


def step_fn(neck, x, device, grad):
    if grad:
        return fwd_bwd(neck, x.requires_grad_(True), device,
                       tuple_input=True)
    neck.eval()

    def fn():
        with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
            return neck((x, ))[0]

    return fn


def graphed(fn, warmup=3):
    """``fn`` captured in a CUDA graph (after ``warmup`` calls on a side
    stream, which compile the kernels); returns a function that replays
    it and returns the graph's output tensor."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()

    def replay():
        graph.replay()
        return out

    return replay


def check_replay(eager, replay, x, tol=2e-2):
    """Largest |replay - eager| over the output for new values in ``x``
    (the graph's input buffer); SystemExit above ``tol`` times the
    output's scale."""
    x.copy_(torch.randn_like(x))
    ref = eager().float()
    got = replay().float()
    diff = (got - ref).abs().max().item()
    scale = ref.abs().max().item()
    if not diff <= tol * scale:
        raise SystemExit(f'CUDA-graph replay differs from the eager '
                         f'forward by {diff:.3g} (output scale '
                         f'{scale:.3g})')
    return diff


def busy_ms(events):
    """Union of the device kernels' [start, end) intervals, in ms."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if e.device_type == torch.autograd.DeviceType.CUDA)
    total, end = 0.0, None
    for s, e in spans:
        if end is None or s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total / 1e3, len(spans)


def sync_sites(fn):
    """The (message, count) of the warnings CUDA's sync debug mode raises
    for one call: each is a place where the host waited for the device."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    # The mode's own notice that it is a prototype is not a wait.
    return Counter(msg for msg in (str(w.message).split('\n')[0][:120]
                                   for w in caught)
                   if not msg.startswith('Synchronization debug mode'))


def profile_once(fn, reps, top):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    host, wall = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        host.append((t1 - t0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    with profile(activities=[ProfilerActivity.CPU,
                             ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    busy, kernels = busy_ms(prof.events())
    res = dict(host_ms=sorted(host)[reps // 2],
               wall_ms=sorted(wall)[reps // 2], busy_ms=busy,
               kernels=kernels, syncs=dict(sync_sites(fn)))
    table = prof.key_averages().table(sort_by='self_cpu_time_total',
                                      row_limit=top,
                                      max_name_column_width=60)
    return res, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--grid', default='5,32,24', help='T,H,W')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--reps', type=int, default=10)
    parser.add_argument('--top', type=int, default=25)
    parser.add_argument('--no-grad', action='store_true',
                        help='one inference forward instead of fwd+bwd')
    parser.add_argument('--cuda-graph', action='store_true',
                        help='with --no-grad: time replays of the forward '
                        'captured in a CUDA graph')
    benchmark.add_block_arguments(parser)
    args = parser.parse_args(argv)
    if args.cuda_graph and not args.no_grad:
        parser.error('--cuda-graph needs --no-grad (inference only)')
    if not torch.cuda.is_available():
        raise SystemExit('profile_overhead.py needs a CUDA device')
    benchmark.set_block_arguments(args)
    enter_package()
    grid = tuple(int(v) for v in args.grid.split(','))
    neck, x = build_neck(grid, args.batch, 'cuda')
    fn = step_fn(neck, x, 'cuda', grad=not args.no_grad)
    checked = {}
    if args.cuda_graph:
        eager, fn = fn, graphed(fn)
        checked['graph_max_abs_diff'] = check_replay(eager, fn, x)
    res, table = profile_once(fn, args.reps, args.top)
    res.update(checked)
    what = 'forward' if args.no_grad else 'fwd+bwd'
    if args.cuda_graph:
        what += ' (CUDA graph replays)'
    print(f'== GLSMamba neck {what}, grid {grid}, batch {args.batch}, '
          f'{torch.cuda.get_device_name()}')
    print(table)
    for key, val in res.items():
        print(f'{key}: {val}')
    return res


if __name__ == '__main__':
    main()
