"""Time the selective-scan backends at GLSMamba's size.

References:
    * ``docs/ops.md`` holds the measured tables; ``../shared/PERF_NOTES.md``
      the GPU reference points (mamba-ssm, attention).

Default shape: B = 1 clip, L = 15,360 tokens (T = 5 frames of 64 x 48),
K = 6 scan orders x 64 channels in one grouped call (B/C grouped per
order), N = 16, softplus on delta, D skip, no z gate: the STS6D call of a
GSM block.  Every available backend is timed forward (no autograd) and
forward+backward, against the sequential ``ref`` backend.  ``ref`` is
slow (minutes at full length on a CPU), so it is timed at
``--ref-length`` tokens and scaled linearly to L -- its cost per token is
constant -- and the table says so.  ``multi:*`` rows time the whole
multi-order unit (gather the six orders + scan + inverse gather + pair
sums) on the same shape.

Examples::

    python tools/benchmark_scan.py                      # CPU
    python tools/benchmark_scan.py --device cuda --dtype bf16 --batch 8
    python tools/benchmark_scan.py --json out.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from mmpose_stmamba.ops import (available_backends, multi_order_scan,
                                selective_scan, selective_scan_flops)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--orders', type=int, default=6,
                   help='K scan orders (groups of B/C)')
    p.add_argument('--channels', type=int, default=64,
                   help='channels per order')
    p.add_argument('--state', type=int, default=16, help='N')
    p.add_argument('--grid', type=int, nargs=3, default=(5, 64, 48),
                   metavar=('T', 'H', 'W'), help='L = T*H*W')
    p.add_argument('--ref-length', type=int, default=None,
                   help='time ref at this L and scale linearly '
                   '(default: 512 on CPU, 2048 on CUDA)')
    p.add_argument('--backends', nargs='+', default=None,
                   help='subset of backends (default: all available)')
    p.add_argument('--no-multi', action='store_true',
                   help='skip the multi_order_scan rows')
    p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'],
                   help='dtype of u, delta, B, C (A, D, bias stay fp32)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads (CPU)')
    p.add_argument('--json', default=None, help='write results here')
    return p.parse_args(argv)


def make_inputs(args, length, device, dtype, requires_grad):
    g = torch.Generator().manual_seed(0)
    K, ch, n, b = args.orders, args.channels, args.state, args.batch
    dim = K * ch

    def rnd(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=g) * scale + shift

    t = dict(
        u=rnd(b, dim, length).to(dtype),
        # Typical trained step sizes: softplus(-4..0) ~ 0.02..0.7.
        delta=rnd(b, dim, length, scale=1.0, shift=-2.0).to(dtype),
        A=-torch.arange(1, n + 1, dtype=torch.float32).repeat(dim, 1),
        B=rnd(b, K, n, length).to(dtype),
        C=rnd(b, K, n, length).to(dtype),
        D=torch.ones(dim),
        delta_bias=rnd(dim, scale=0.1))
    return {
        k: v.to(device).requires_grad_(requires_grad)
        for k, v in t.items()
    }


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_call(fn, inputs, device, backward, repeats):
    """Median seconds of ``fn`` (and its backward) over ``repeats``."""
    times = []
    for i in range(repeats + 1):  # the first run warms up and is dropped
        for v in inputs.values():
            v.grad = None
        _sync(device)
        start = time.perf_counter()
        if backward:
            y = fn(**inputs)
            y.backward(torch.ones_like(y))
        else:
            with torch.no_grad():
                fn(**inputs)
        _sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def scan_fn(backend):
    def fn(**kw):
        return selective_scan(kw['u'], kw['delta'], kw['A'], kw['B'],
                              kw['C'], kw['D'], delta_bias=kw['delta_bias'],
                              delta_softplus=True, backend=backend)

    return fn


def multi_fn(backend, args):
    def fn(**kw):
        b, dim, length = kw['u'].shape
        ch = args.channels
        # The multi-order unit takes u once; delta is per order.
        return multi_order_scan(kw['u'][:, :ch], kw['delta'].view(
            b, args.orders, ch, length), kw['A'], kw['B'], kw['C'],
                                kw['D'], kw['delta_bias'], True,
                                orders='sts6d' if args.orders == 6 else
                                ('window', 'window_rev'),
                                grid=tuple(args.grid), window=(8, 6),
                                backend=backend)

    return fn


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == 'bf16' else torch.float32
    T, H, W = args.grid
    length = T * H * W
    ref_length = args.ref_length or (512 if device.type == 'cpu' else 2048)
    ref_length = min(ref_length, length)
    backends = args.backends or available_backends(device)

    rows = []
    for name in backends:
        n_tok = ref_length if name == 'ref' else length
        reps = 1 if name == 'ref' else args.repeats
        fn = scan_fn(name)
        fwd = time_call(fn, make_inputs(args, n_tok, device, dtype, False),
                        device, False, reps)
        both = time_call(fn, make_inputs(args, n_tok, device, dtype, True),
                         device, True, reps)
        scale = length / n_tok
        rows.append(dict(backend=name, timed_length=n_tok,
                         extrapolated=scale != 1, fwd_s=fwd * scale,
                         fwd_bwd_s=both * scale))
    if not args.no_multi and args.orders in (2, 6):
        for name in [b for b in backends if b != 'ref']:
            fn = multi_fn(name, args)
            fwd = time_call(fn, make_inputs(args, length, device, dtype,
                                            False), device, False,
                            args.repeats)
            both = time_call(fn, make_inputs(args, length, device, dtype,
                                             True), device, True,
                             args.repeats)
            rows.append(dict(backend=f'multi:{name}', timed_length=length,
                             extrapolated=False, fwd_s=fwd,
                             fwd_bwd_s=both))

    ref = next((r for r in rows if r['backend'] == 'ref'), None)
    for r in rows:
        r['fwd_speedup_vs_ref'] = ref['fwd_s'] / r['fwd_s'] if ref else None
        r['fwd_bwd_speedup_vs_ref'] = (ref['fwd_bwd_s'] / r['fwd_bwd_s']
                                       if ref else None)
    machine = describe_machine(device)
    flops = selective_scan_flops(args.batch, args.orders * args.channels,
                                 length, args.state, True, False)
    print(f'# selective scan, B={args.batch}, {args.orders} orders x '
          f'{args.channels} channels, N={args.state}, L={length} '
          f'({T}x{H}x{W}), {args.dtype}, softplus, D; '
          f'{flops / 1e9:.2f} GFLOP forward')
    print(f'# {machine}')
    print('| backend | fwd ms | fwd+bwd ms | fwd x ref | fwd+bwd x ref |')
    print('|---|---|---|---|---|')
    for r in rows:
        mark = '*' if r['extrapolated'] else ''
        ratio = ('' if ref is None else
                 f'{r["fwd_speedup_vs_ref"]:.1f} | '
                 f'{r["fwd_bwd_speedup_vs_ref"]:.1f}')
        print(f'| {r["backend"]} | {r["fwd_s"] * 1e3:.1f}{mark} | '
              f'{r["fwd_bwd_s"] * 1e3:.1f}{mark} | {ratio or "- | -"} |')
    if ref is not None and ref['extrapolated']:
        print(f'* timed at L={ref["timed_length"]} and scaled linearly '
              f'to L={length}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), machine=machine, length=length,
                           flops_forward=flops, rows=rows), f, indent=2)
    return rows


def describe_machine(device):
    text = (f'torch {torch.__version__}, python '
            f'{platform.python_version()}, {platform.machine()}')
    if device.type == 'cuda':
        return f'{text}, {torch.cuda.get_device_name(device)}'
    cpu = platform.processor() or 'cpu'
    try:
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f
                     if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    # Other jobs on a shared machine slow the multi-threaded ops a lot
    # (OpenMP barriers wait for descheduled threads): record the load.
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    return (f'{text}, {cpu}, {os.cpu_count()} cores, '
            f'{torch.get_num_threads()} threads, load average {load} '
            f'at the end, {time.strftime("%Y-%m-%d")}')


if __name__ == '__main__':
    main(sys.argv[1:])
