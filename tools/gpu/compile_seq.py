"""Compile the fused scan's kernels for a GPU architecture, without a GPU.

Reports, per launch configuration, what ptxas made of each kernel:
registers, spill bytes (local memory) and counts of the SASS instructions
that decide its speed (exp2 on the special-function unit, global loads,
stores, atomics, shuffles).  It needs Triton (its bundled ptxas and
cuobjdump) but no device, so launch settings can be screened here before
they cost device time.  Triton's version matters: compare with the GPU
machine's (``--triton-path`` puts another Triton first on sys.path)::

    python tools/gpu/compile_seq.py \\
        --fwd '[{"BLOCK_D": 16, "CHUNK": 2, "PREFETCH": true}]' \\
        --bwd '[{"BLOCK_D": 32, "CHUNK": 2, "SEG": 32, "maxnreg": 168}]'

Counts are static (instructions in the binary, loops unrolled as the
compiler chose), not executed instructions.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# SASS opcodes counted: (label, regex on the opcode).
OPCODES = (('MUFU.EX2', r'MUFU\.EX2'), ('LDG', r'LDG(\.|$)'),
           ('LDGSTS', r'LDGSTS'), ('STG', r'STG'), ('ATOM', r'RED|ATOM'),
           ('SHFL', r'SHFL'), ('LDL/STL', r'[LS]TL'))

# Pointer element types of the kernels' arguments (the rest are fp32).
BF16_PTRS = {'u_ptr', 'dl_ptr', 'out_ptr', 'dout_ptr', 'ddl_ptr'}
I32_PTRS = {'perm_ptr'}


def _signature(fn, constants):
    sig = {}
    for name in fn.arg_names:
        if name in constants:
            sig[name] = 'constexpr'
        elif name.endswith('_ptr'):
            sig[name] = ('*bf16' if name in BF16_PTRS else
                         '*i32' if name in I32_PTRS else '*fp32')
        else:
            sig[name] = 'i32'
    return sig


def _resources(cubin, tools):
    with tempfile.NamedTemporaryFile(suffix='.cubin', delete=False) as f:
        f.write(cubin)
    try:
        usage = subprocess.run(
            [os.path.join(tools, 'cuobjdump'), '--dump-resource-usage',
             f.name], capture_output=True, text=True, check=True).stdout
        sass = subprocess.run(
            [os.path.join(tools, 'cuobjdump'), '--dump-sass', f.name],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    regs = int(re.search(r'REG:(\d+)', usage).group(1))
    local = int(re.search(r'LOCAL:(\d+)', usage).group(1))
    stack = int(re.search(r'STACK:(\d+)', usage).group(1))
    ops = re.findall(
        r'/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9.]*)', sass)
    counts = {label: sum(bool(re.match(rx, op)) for op in ops)
              for label, rx in OPCODES}
    return dict(regs=regs, stack=stack, local_bytes=local, sass=len(ops),
                **counts)


def tools_dir():
    """The folder of the ptxas and cuobjdump that come with Triton."""
    import triton
    return os.path.join(os.path.dirname(triton.__file__), 'backends',
                        'nvidia', 'bin')


def compile_kernel(fn, constants, opts, arch):
    """ptxas resource usage and SASS counts of one specialisation."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    src = ASTSource(fn, signature=_signature(fn, constants),
                    constexprs=dict(constants))
    options = {'num_warps': opts.get('num_warps', 1)}
    if 'maxnreg' in opts:
        options['maxnreg'] = opts['maxnreg']
    kernel = triton.compile(src, target=GPUTarget('cuda', arch, 32),
                            options=options)
    return dict(_resources(kernel.asm['cubin'], tools_dir()),
                shared=kernel.metadata.shared)


def _common(cfg, n):
    return dict(N=n, BLOCK_D=cfg['BLOCK_D'], CHUNK=cfg['CHUNK'],
                HAS_D=True, HAS_BIAS=True, SOFTPLUS=cfg.get('SOFTPLUS', 2),
                PREFETCH=bool(cfg.get('PREFETCH', False)),
                MASK_D=bool(cfg.get('MASK_D', False)),
                MASK_L=bool(cfg.get('MASK_L', False)),
                VEC=bool(cfg.get('VEC', cfg['BLOCK_D'] == 32 * cfg.get(
                    'num_warps', 1))))


def forward_report(seq, cfg, n, every, arch):
    consts = dict(_common(cfg, n), SEG=every // cfg['CHUNK'], SAVE_CK=True,
                  LOCAL=False, SPLIT=bool(cfg.get('SPLIT', False)))
    return compile_kernel(seq._seq_fwd_kernel, consts, cfg, arch)


def backward_report(seq, cfg, n, arch):
    consts = dict(_common(cfg, n), SEG=cfg['SEG'], **seq._lane_sums(cfg, n))
    return compile_kernel(seq._seq_bwd_kernel, consts, cfg, arch)


def carry_report(seq, cfg, n, arch):
    # The split sequence's first backward pass (SEQ_PARTS > 1).
    consts = {key: value for key, value in _common(cfg, n).items()
              if key not in ('HAS_D', 'PREFETCH')}
    return compile_kernel(seq._seq_carry_kernel, consts, cfg, arch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fwd', help='JSON list of forward configs '
                        '(default: SEQ_FWD_CFG)')
    parser.add_argument('--bwd', help='JSON list of backward configs '
                        '(default: SEQ_BWD_CFG)')
    parser.add_argument('--n', type=int, default=16, help='states (16)')
    parser.add_argument('--arch', type=int, default=90, help='sm (90)')
    parser.add_argument('--triton-path', help='put this Triton first')
    args = parser.parse_args(argv)
    if args.triton_path:
        sys.path.insert(0, args.triton_path)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))
    import triton

    from mmpose_stmamba.ops import scan_triton_seq as seq
    fwd = (json.loads(args.fwd) if args.fwd is not None else
           [seq.SEQ_FWD_CFG])
    bwd = (json.loads(args.bwd) if args.bwd is not None else
           [seq.SEQ_BWD_CFG])
    every = seq.SEQ_BWD_CFG['CHUNK'] * seq.SEQ_BWD_CFG['SEG']
    print(f'triton {triton.__version__}, sm_{args.arch}, N {args.n}')
    for kind, cfgs in (('fwd', fwd), ('bwd', bwd)):
        for cfg in cfgs:
            cfg = dict(dict(num_warps=1), **cfg)
            reps = ({'fwd': forward_report(seq, cfg, args.n, every,
                                           args.arch)} if kind == 'fwd' else
                    {'bwd': backward_report(seq, cfg, args.n, args.arch),
                     'carry': carry_report(seq, cfg, args.n, args.arch)})
            for name, rep in reps.items():
                print(name, json.dumps(cfg, sort_keys=True),
                      ' '.join(f'{k}={v}' for k, v in rep.items()),
                      flush=True)


if __name__ == '__main__':
    main()
