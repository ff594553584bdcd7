"""Launch-parameter sweep of the channel-per-lane fused scan (one GPU).

Times forward and forward+backward of ``scan_triton_seq`` (channels-last
bf16 inputs, T=5 at 64x48, N=16, STS6D) for launch configurations given as
JSON lists (or the built-in ones) and sequence splits (``SEQ_PARTS``), and
prints one line per case, e.g.::

    python3 tools/gpu/sweep_seq.py --dms 192,512
    python3 tools/gpu/sweep_seq.py --dms 192 --batch 8 --parts 1,2,4,8 \\
        --fwd '[]' --bwd '[{"BLOCK_D": 32, "CHUNK": 4, "SEG": 16,
                           "num_warps": 1, "maxnreg": 168}]'

An empty list keeps the module's default for that pass; a forward list
is timed forward only, then the best forward is kept for the backward
cases.  The last line, ``BEST {"fwd": ..., "bwd": ...}``, names the
configurations with the least total time over all cases, in the form
``STMAMBA_SCAN_LAUNCH`` takes.  Every case is also checked against the
first one of its size (output, and in the backward cases the input
gradients): ``err`` is the largest difference over the largest value of
the first; a case above ``--tol`` is printed as MISMATCH and never BEST.
With ``--best-out FILE`` that line's JSON is also written to FILE.
"""
import argparse
import json
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


def _configs(text, default):
    return default if text is None else json.loads(text)


def _use(cfg_dict, cfg):
    cfg_dict.clear()
    cfg_dict.update(cfg)


def _add(totals, cfg, ms):
    key = json.dumps(cfg, sort_keys=True)
    totals[key] = totals.get(key, 0.) + ms


def _result(fn, x, backward):
    """Output (and the inputs' gradients) of one call, as a list."""
    if backward:
        out = fn()
        return [out.detach().float()] + [
            t.grad.detach().float() for t in x.values() if t.grad is not None]
    with torch.no_grad():
        return [fn().float()]


def _err(got, ref):
    """Largest |got - ref| over max |ref|, the worst over the tensors."""
    if ref is None:
        return 0.
    return max(((g - r).abs().max() / r.abs().max().clamp_min(1e-30)).item()
               for g, r in zip(got, ref))


def _case(x, grid, backward, ref):
    """(timing, err against ref, ref for the next cases) of one config."""
    fn = run_scan(x, 'triton', grid, backward)
    got = _result(fn, x, backward)
    with torch.set_grad_enabled(backward):
        m = measure(fn, max_reps=5)
    return m, _err(got, ref), ref or got


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dms', default='192,512')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--parts', default='1',
                        help="comma-separated SEQ_PARTS values ('auto': the "
                        'automatic choice)')
    parser.add_argument('--fwd', help='JSON list of forward configs')
    parser.add_argument('--bwd', help='JSON list of backward configs')
    parser.add_argument('--tol', type=float, default=2e-2,
                        help='largest accepted err (bf16 outputs)')
    parser.add_argument('--best-out', help='write the BEST JSON here')
    parser.add_argument('--grid', default='5,64,48', help='T,H,W')
    parser.add_argument('--device', default='cuda',
                        help="'cpu' with TRITON_INTERPRET=1: a smoke test")
    args = parser.parse_args()
    enter_package()
    from mmpose_stmamba.ops import scan_triton_seq as sq

    # The variable would override every config below: make it the
    # defaults instead, so that the printed configs are the ones run.
    if os.environ.get('STMAMBA_SCAN_LAUNCH'):
        fwd_cfg, bwd_cfg = sq._launch_cfgs()
        del os.environ['STMAMBA_SCAN_LAUNCH']
        _use(sq.SEQ_FWD_CFG, fwd_cfg)
        _use(sq.SEQ_BWD_CFG, bwd_cfg)
        print(f'defaults from STMAMBA_SCAN_LAUNCH: {fwd_cfg} {bwd_cfg}')
    fwd_default, bwd_default = dict(sq.SEQ_FWD_CFG), dict(sq.SEQ_BWD_CFG)
    parts_default = sq.SEQ_PARTS
    totals = {'fwd': {}, 'bwd': {}}
    fwds = _configs(args.fwd, FWD) or [fwd_default]
    bwds = _configs(args.bwd, BWD) or [bwd_default]
    grid = tuple(int(v) for v in args.grid.split(','))
    for dm in (int(v) for v in args.dms.split(',')):
        x = scan_inputs(args.batch, dm, 16, grid, 6, torch.bfloat16,
                        args.device, channels_last=True)
        for parts in (None if v == 'auto' else int(v)
                      for v in args.parts.split(',')):
            sq.SEQ_PARTS = parts
            tag = f'B {args.batch} dm {dm} parts {parts}'
            best, ref = None, None
            for fcfg in fwds:
                _use(sq.SEQ_FWD_CFG, fcfg)
                m, err, ref = _case(x, grid, False, ref)
                bad = err > args.tol
                print(f'{tag} fwd {fcfg}: {m["ms"]:.1f} ms, err {err:.1e}'
                      + (' MISMATCH' if bad else ''), flush=True)
                _add(totals['fwd'], fcfg, float('inf') if bad else m['ms'])
                if not bad and (best is None or m['ms'] < best[0]):
                    best = (m['ms'], fcfg)
            if best is None:
                raise SystemExit(f'{tag}: every forward config mismatched')
            _use(sq.SEQ_FWD_CFG, best[1])
            ref = None
            for bcfg in bwds:
                _use(sq.SEQ_BWD_CFG, bcfg)
                m, err, ref = _case(x, grid, True, ref)
                bad = err > args.tol
                print(f'{tag} fwd {best[1]} + bwd {bcfg}: {m["ms"]:.1f} ms, '
                      f'{m["peak_gib"]:.2f} GiB, err {err:.1e}'
                      + (' MISMATCH' if bad else ''), flush=True)
                _add(totals['bwd'], bcfg, float('inf') if bad else m['ms'])
            ref = None
            _use(sq.SEQ_BWD_CFG, bwd_default)
        sq.SEQ_PARTS = parts_default
        _use(sq.SEQ_FWD_CFG, fwd_default)
        x = None
        torch.cuda.empty_cache()
    best = {key: json.loads(min(t, key=t.get)) for key, t in totals.items()}
    print('BEST', json.dumps(best), flush=True)
    if args.best_out:
        with open(args.best_out, 'w') as f:
            json.dump(best, f)


if __name__ == '__main__':
    main()
