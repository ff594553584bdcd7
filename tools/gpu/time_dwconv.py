"""Time the channels-last depthwise convolution against PyTorch's.

The GSM block's three depthwise convolutions at B=32, T=5, 64x48, width
192, bf16, forward + backward (input, weight and bias gradients): the
STMM offset heads' 3x3x3 and 1x3x3 Conv3d and the gate's 3x3 Conv2d (as
1x3x3), each through ``ops.dwconv_triton`` (every launch setting given,
each checked against the first) and through the Conv3d module on the
(B, C, T, H, W) layout (what the block ran before).  Needs only torch
and triton::

    python3 tools/gpu/time_dwconv.py [--cfgs JSON_LIST]

Without CUDA (``TRITON_INTERPRET=1``) it runs tiny shapes once, as a
smoke test of this script.
"""
import argparse
import json
import os
import sys
import types

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
for _name in ('mmpose_stmamba', 'mmpose_stmamba.ops'):
    _shell = types.ModuleType(_name)
    _shell.__path__ = [os.path.join(ROOT, *_name.split('.'))]
    sys.modules[_name] = _shell
from mmpose_stmamba.ops import dwconv_triton as dw  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from time_deform_sample import DEV, timed  # noqa: E402

B, T, H, W, C = (32, 5, 64, 48, 192) if DEV == 'cuda' else (1, 2, 5, 4, 8)
CFGS = [dict(BLOCK_P=128, BLOCK_C=32, num_warps=4),
        dict(BLOCK_P=64, BLOCK_C=64, num_warps=4),
        dict(BLOCK_P=32, BLOCK_C=64, num_warps=4),
        dict(BLOCK_P=128, BLOCK_C=64, num_warps=8),
        dict(BLOCK_P=64, BLOCK_C=32, num_warps=4),
        dict(BLOCK_P=32, BLOCK_C=32, num_warps=2)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cfgs', help='JSON list of CFG dicts to time')
    args = parser.parse_args()
    cfgs = json.loads(args.cfgs) if args.cfgs else CFGS
    if DEV != 'cuda':
        cfgs = [dict(BLOCK_P=16, BLOCK_C=8, num_warps=1)]
    print(f'{torch.cuda.get_device_name() if DEV == "cuda" else DEV}, '
          f'x ({B}, {T}, {H}, {W}, {C}) bf16, fwd+bwd ms', flush=True)
    torch.manual_seed(0)
    x = torch.randn(B, T, H, W, C, device=DEV, dtype=torch.bfloat16)
    x.requires_grad_()
    gout = torch.randn_like(x)
    for kernel in ((3, 3, 3), (1, 3, 3)):
        w = torch.randn(C, 1, *kernel, device=DEV, requires_grad=True)
        b = torch.randn(C, device=DEV, requires_grad=True)

        def ours():
            x.grad = w.grad = b.grad = None
            dw.depthwise_conv_cl(x, w, b).backward(gout)
            return x.grad, w.grad, b.grad

        def torch_conv():
            x.grad = w.grad = b.grad = None
            with torch.autocast(DEV, dtype=torch.bfloat16):
                out = F.conv3d(x.permute(0, 4, 1, 2, 3).contiguous(), w, b,
                               padding=tuple(k // 2 for k in kernel),
                               groups=C)
            out.permute(0, 2, 3, 4, 1).backward(gout)
            return x.grad, w.grad, b.grad

        ref = [g.float() for g in torch_conv()]
        ms = timed(torch_conv)
        print(f'{kernel} torch Conv3d (B, C, T, H, W): {ms:.2f} ms',
              flush=True)
        for cfg in cfgs:
            dw.CFG.update(cfg)
            got = [g.float() for g in ours()]
            err = max(((g - r).abs().max() / r.abs().max()).item()
                      for g, r in zip(got, ref))
            print(f'{kernel} {cfg}: {timed(ours):.2f} ms, rel err vs '
                  f'torch {err:.1e}', flush=True)
            fwd = timed(lambda: dw.depthwise_conv_cl(x.detach(), w, b))
            print(f'{kernel} {cfg}: forward alone {fwd:.2f} ms', flush=True)
        dw.CFG.update(cfgs[0])


if __name__ == '__main__':
    main()
