"""GPU benchmark: fused scan, GSM block and neck against attention.

References:
    * Issue 8 and ../shared/PERF_NOTES.md: what is measured and why (the
      paper's efficiency claim against a FlashAttention baseline).
    * METHOD.md of the device tool: event timing after warm-up, medians,
      floors from measured ceilings (a device-to-device copy for bandwidth,
      an exp2 loop for the special-function unit).

Everything runs on one card in one process and writes ``results.json``,
PNG plots and a printed table to ``--out``.  Sections:

* ``ceilings``: copy bandwidth and exp2 throughput of this card.
* ``scan``: the STS6D multi-order scan alone, forward and forward+backward:
  fused Triton kernel, the six-permuted-copies route through mamba-ssm,
  and the torch backend (small batch, it is a CPU-first implementation),
  each with its floor max(bytes / bandwidth, exp count / exp rate).
* (launch parameters of the fused kernel: tools/gpu/sweep_seq.py)
* ``block``: GSM block (GLSMamba-B settings from the model config) per
  scan backend vs an equal-width pre-norm Transformer block (SDPA, MLP
  ratio 4), forward+backward, bf16 autocast, time and peak memory.
* ``neck``: GLSMambaNeck vs an attention neck of equal width and depth at
  T = 3, 5, 9, 17 and 1/8, 1/4 resolution.
* ``train``: a GLSMamba-B training step with a frozen ViT-B/16 encoder
  (timm's ViT of ViTPose-B's shape, random weights: mmpretrain is not
  available on the GPU machine; the cost is the same) in clips/s.

Usage: python tools/benchmark.py --out DIR [--sections a,b] [--quick]
"""
import argparse
import ast
import json
import math
import os
import runpy
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2**30
SECTIONS = ('ceilings', 'scan', 'block', 'neck', 'train')


def enter_package():
    """Import the plugin; on machines without full mmcv skip the __init__s
    that pull ``mmpose.models`` (see tools/gpu/run_gpu_tests.py)."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, 'tools', 'gpu'))
    from run_gpu_tests import enter_package_lightly
    reason = enter_package_lightly()
    if reason:
        import importlib
        import types
        try:
            importlib.import_module('mmpose_stmamba.models')
        except Exception:
            for name in [m for m in sys.modules
                         if m.startswith('mmpose_stmamba.models')]:
                del sys.modules[name]
            shell = types.ModuleType('mmpose_stmamba.models')
            shell.__path__ = [os.path.join(ROOT, 'mmpose_stmamba', 'models')]
            sys.modules['mmpose_stmamba.models'] = shell
        # The neck builds its blocks through MODELS, whose first lookup
        # imports the registry's location ``mmpose.models`` (mmdet, full
        # mmcv, xtcocotools): mark it done; the blocks register themselves
        # when their modules are imported.
        from mmpose.registry import MODELS
        MODELS._imported = True
    return reason


# ---------------------------------------------------------------- timing
def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure(fn, min_reps=3, max_reps=10, budget_s=1.5):
    """Median ms of fn() after one warm-up call, and peak GiB of one call.

    Peak memory is ``max_memory_allocated`` during the call, including
    everything already allocated (inputs, parameters), as PERF_NOTES does.
    """
    fn()  # compile, autotune, allocate
    sync()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / GIB if cuda else float('nan')
    reps = int(max(min_reps, min(max_reps, budget_s / max(first, 1e-4))))
    times = []
    for _ in range(reps):
        if cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return dict(ms=times[len(times) // 2], ms_min=times[0], reps=reps,
                peak_gib=peak)


def free():
    import gc
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------- ceilings
def section_ceilings(args, res):
    dev = args.device
    n = (1 << 28) if not args.quick else (1 << 24)  # 1 GiB of fp32
    x = torch.randn(n, device=dev)
    y = torch.empty_like(x)
    m = measure(lambda: y.copy_(x), min_reps=5)
    bw = 2 * n * 4 / (m['ms'] * 1e-3)  # bytes read + written
    x = y = None  # free the 2 GiB before the next measurement
    out = dict(copy_bandwidth_Bps=bw)
    if args.device == 'cuda':
        import triton
        import triton.language as tl

        @triton.jit
        def exp_loop(x_ptr, o_ptr, ITERS: tl.constexpr, BLOCK: tl.constexpr):
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            a = tl.load(x_ptr + offs)
            b = a + 1.0
            c = a + 2.0
            d = a + 3.0
            for _ in range(ITERS):  # four independent chains
                a = tl.exp2(a * -0.5)
                b = tl.exp2(b * -0.5)
                c = tl.exp2(c * -0.5)
                d = tl.exp2(d * -0.5)
            tl.store(o_ptr + offs, a + b + c + d)

        props = torch.cuda.get_device_properties(0)
        block = 1024
        nel = props.multi_processor_count * 16 * block
        xs = torch.rand(nel, device=dev)
        os_ = torch.empty_like(xs)
        iters = 256
        m = measure(lambda: exp_loop[(nel // block, )](
            xs, os_, ITERS=iters, BLOCK=block, num_warps=8), min_reps=5)
        out['exp2_per_s'] = nel * 4 * iters / (m['ms'] * 1e-3)
        out['sm_count'] = props.multi_processor_count
    res['ceilings'] = out


def ceilings(res):
    c = res.get('ceilings', {})
    # Datasheet fallbacks (H100 SXM): 3.35 TB/s HBM3; 16 ex2/clk/SM x 132
    # SMs x 1.98 GHz = 4.2 T exp/s.
    return (c.get('copy_bandwidth_Bps', 3.35e12),
            c.get('exp2_per_s', 4.18e12))


# ------------------------------------------------------------------ scan
def scan_inputs(batch, dm, n, grid, k, dtype, dev, seed=0,
                channels_last=False):
    g = torch.Generator(device='cpu').manual_seed(seed)
    length = math.prod(grid)

    def rnd(*shape, scale=1.0, shift=0.0, dt=dtype):
        t = torch.randn(*shape, generator=g) if math.prod(shape) < 2**24 \
            else torch.randn(*shape)
        return (t * scale + shift).to(device=dev, dtype=dt)

    A = -torch.exp(torch.rand(k * dm, n, generator=g) * math.log(16)).to(dev)
    x = dict(u=rnd(batch, dm, length), delta=rnd(batch, k, dm, length,
                                                 scale=0.5, shift=-2.0),
             A=A, B=rnd(batch, k, n, length), C=rnd(batch, k, n, length),
             D=rnd(k * dm, dt=torch.float32),
             delta_bias=rnd(k * dm, scale=0.5, dt=torch.float32))
    if channels_last:  # memory (B, L, Dm) / (B, L, K, .) behind the views
        x['u'] = x['u'].transpose(1, 2).contiguous().transpose(1, 2)
        for key in ('delta', 'B', 'C'):
            x[key] = x[key].permute(0, 3, 1, 2).contiguous().permute(
                0, 2, 3, 1)
    for t in x.values():
        t.requires_grad_(True)
    return x


def scan_floor(batch, dm, n, length, k, esize, bw, exp_rate, backward):
    """Floor (ms) and its two terms; see docs/benchmark.md."""
    p = k // 2
    tok = batch * length
    fwd_bytes = esize * tok * (dm + k * dm + 2 * k * n + p * dm)
    bwd_bytes = esize * tok * (dm + k * dm + 2 * k * n + p * dm   # inputs
                               + dm + k * dm + 2 * k * n)  # their grads
    states = batch * k * dm * n * length
    byt = fwd_bytes + (bwd_bytes if backward else 0)
    # One exp(dt*A) per state in the forward, one more in the backward
    # (storing them would be 4 bytes per state: far more than the budget).
    exps = states * (2 if backward else 1)
    t_bytes = byt / bw * 1e3
    t_exp = exps / exp_rate * 1e3
    return dict(floor_ms=max(t_bytes, t_exp), bytes=byt, exps=exps,
                bytes_ms=t_bytes, exp_ms=t_exp)


def run_scan(x, backend, grid, backward):
    from mmpose_stmamba.ops.multi_scan import multi_order_scan

    def fn():
        for t in x.values():
            t.grad = None
        out = multi_order_scan(x['u'], x['delta'], x['A'], x['B'], x['C'],
                               x['D'], x['delta_bias'], True, orders='sts6d',
                               grid=grid, backend=backend)
        if backward:
            out.backward(torch.ones_like(out))
        return out

    return fn


def section_scan(args, res):
    bw, exp_rate = ceilings(res)
    grid = (5, 64, 48) if not args.quick else (3, 16, 12)
    rows = res['scan'] = []  # filled in place: see save_partial
    dms = args.scan_dms if not args.quick else (32, )
    for dm in dms:
        # (backend, batch, channels-last inputs): each route gets the
        # layout it is fastest with (the GSM block passes channels-last
        # views; the generic route copies them contiguous).
        plans = [('triton', args.batch, True),
                 ('mamba_ssm', args.batch, False),
                 ('torch', 2 if not args.quick else 1, False)]
        for backend, batch, chl in plans:
            if backend not in args.scan_backends or (
                    args.device != 'cuda' and backend != 'torch'):
                continue
            for backward in (False, True):
                free()
                row = dict(dm=dm, backend=backend, channels_last=chl,
                           batch=batch,
                           backward=backward, grid=grid)
                try:
                    x = scan_inputs(batch, dm, 16, grid, 6, torch.bfloat16,
                                    args.device, channels_last=chl)
                    row.update(measure(run_scan(x, backend, grid, backward),
                                       max_reps=5))
                    row.update(scan_floor(batch, dm, 16, math.prod(grid), 6,
                                          2, bw, exp_rate, backward))
                    row['over_floor'] = row['ms'] / row['floor_ms']
                except Exception as err:
                    row['error'] = f'{type(err).__name__}: {err}'[:300]
                x = None
                rows.append(row)
                print('scan', row, flush=True)
                save_partial()


# ---------------------------------------------------------------- blocks
class AttentionBlock(nn.Module):
    """Pre-norm Transformer block: LN, QKV, SDPA, proj, LN, MLP (ratio 4)."""

    def __init__(self, dim, head_dim=32, mlp_ratio=4.):
        super().__init__()
        self.heads = dim // head_dim
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x):  # (B, L, D)
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads,
                                               -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, length, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class AttentionNeck(nn.Module):
    """Global attention over all T*H*W tokens, same width/depth/IO."""

    def __init__(self, in_channels, dim, depth):
        super().__init__()
        self.input_proj = nn.Linear(in_channels, dim)
        self.blocks = nn.ModuleList(AttentionBlock(dim) for _ in range(depth))
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, inputs):
        x = inputs[-1]  # (B, T, C, H, W)
        b, t, c, h, w = x.shape
        x = self.input_proj(x.permute(0, 1, 3, 4, 2).reshape(b, -1, c))
        for blk in self.blocks:
            x = blk(x)
        x = self.out_norm(x).view(b, t, h, w, -1)
        return (x.permute(0, 1, 4, 2, 3), )


# GSMBlock / LRMBlock arguments over the config's (both blocks;
# ``stmm_cfg.KEY`` the GSM blocks' STMM merge only): --stmm-impl,
# --gate-cp, --gate-impl and --block-option KEY=VALUE
# (set_block_arguments).
BLOCK_OPTIONS = {}
# (results, path): results.json is rewritten after every measured row, so
# a run cut by a time limit keeps what it measured.
PARTIAL = None


def save_partial():
    if PARTIAL is not None:
        res, path = PARTIAL
        with open(path, 'w') as f:
            json.dump(res, f, indent=1, default=str)


def model_cfg():
    cfg = runpy.run_path(
        os.path.join(ROOT, 'configs', '_base_', 'models',
                     'glsmamba_vitpose-b.py'))['model']
    for key, value in BLOCK_OPTIONS.items():
        if key.startswith('stmm_cfg.'):
            gsm = cfg['neck']['gsm_cfg']
            gsm['stmm_cfg'] = dict(gsm.get('stmm_cfg') or {})
            gsm['stmm_cfg'][key.split('.', 1)[1]] = value
        else:
            for blocks_key in ('gsm_cfg', 'lrm_cfg'):
                cfg['neck'][blocks_key][key] = value
    return cfg


def add_block_arguments(parser):
    """The block options shared by the GPU tools (read by
    :func:`set_block_arguments`)."""
    parser.add_argument('--stmm-impl',
                        help="STMM sampling ('grid_sample', 'triton', "
                        "'auto'; default: the config's)")
    parser.add_argument('--gate-cp', action='store_true',
                        help='GSM / LRM blocks recompute their gate stream '
                        'in the backward (gate_cp)')
    parser.add_argument('--gate-impl', choices=('torch', 'triton', 'auto'),
                        help="the gate's LayerNorm -> SiLU -> product in "
                        "the GSM / LRM blocks ('auto': fused on CUDA; "
                        "default: the config's)")
    parser.add_argument('--block-option', action='append', default=[],
                        metavar='KEY=VALUE',
                        help='any GSMBlock / LRMBlock argument, a Python '
                        "literal or a string (e.g. delta_recompute=False, "
                        'stmm_cfg.with_cp=all: GSM only); repeatable')


def set_block_arguments(args):
    """Apply :func:`add_block_arguments`' options to this module's
    configs; ValueError for a malformed ``--block-option``."""
    BLOCK_OPTIONS.clear()
    # the named flags first: an explicit --block-option overrides them
    if args.stmm_impl:
        BLOCK_OPTIONS['stmm_cfg.impl'] = args.stmm_impl
    if args.gate_cp:
        BLOCK_OPTIONS['gate_cp'] = True
    if args.gate_impl:
        BLOCK_OPTIONS['gate_impl'] = args.gate_impl
    for item in args.block_option:
        key, sep, text = item.partition('=')
        if not sep or not key:
            raise ValueError(f'--block-option {item!r}: expected KEY=VALUE')
        try:
            BLOCK_OPTIONS[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            BLOCK_OPTIONS[key] = text


def neck_cfg():
    """GLSMambaNeck's arguments from the model config, less ``type`` and
    ``num_frames`` (the caller's clip length)."""
    cfg = dict(model_cfg()['neck'])
    cfg.pop('type')
    cfg.pop('num_frames')
    return cfg


def fwd_bwd(model, x, dev, tuple_input=False):
    params = [p for p in model.parameters() if p.requires_grad]

    def fn():
        for p in params:
            p.grad = None
        x.grad = None
        with torch.autocast(dev, dtype=torch.bfloat16):
            out = model((x, )) if tuple_input else model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().square().mean().backward()

    return fn


def timed_case(section, row, build, args, max_reps, tuple_input=False):
    """Time fwd+bwd of ``build() -> (model, x)`` into ``row``.

    A failure (OOM, an unsupported backend) is recorded in the row, so one
    case does not end the section.
    """
    free()
    model = x = None
    try:
        torch.manual_seed(0)
        model, x = build()
        model = model.to(args.device)
        x = x.to(args.device).requires_grad_(True)
        row['params_M'] = sum(p.numel() for p in model.parameters()) / 1e6
        row.update(measure(fwd_bwd(model, x, args.device, tuple_input),
                           max_reps=max_reps))
    except Exception as err:
        row['error'] = f'{type(err).__name__}: {err}'[:300]
        traceback.print_exc()
    model = x = None
    print(section, row, flush=True)
    return row


def section_block(args, res):
    from mmpose_stmamba.models.necks.gsm_block import GSMBlock
    gsm_cfg = dict(model_cfg()['neck']['gsm_cfg'])
    batch = args.batch
    t, h, w = (5, 64, 48) if not args.quick else (3, 16, 12)
    rows = res['block'] = []  # filled in place: see save_partial
    widths = args.block_widths if not args.quick else (32, )
    backends = tuple(b for b in ('triton', 'mamba_ssm')
                     if b in args.scan_backends) if args.device == 'cuda' \
        else ('torch', )
    for width in widths:
        plans = [('attention', None)] + [('gsm', b) for b in backends]
        for kind, backend in plans:
            row = dict(width=width, kind=kind, backend=backend, batch=batch,
                       grid=(t, h, w), gsm_cfg=gsm_cfg)

            def build(width=width, kind=kind, backend=backend):
                if kind == 'attention':
                    return (AttentionBlock(width),
                            torch.randn(batch, t * h * w, width))
                return (GSMBlock(width, num_frames=t, scan_backend=backend,
                                 **gsm_cfg),
                        torch.randn(batch, t, h, w, width))

            rows.append(timed_case('block', row, build, args, max_reps=6))
            save_partial()


def section_neck(args, res):
    from mmpose_stmamba.models.necks.glsmamba_neck import GLSMambaNeck
    cfg = neck_cfg()
    depth = cfg['num_gsm'] + cfg['num_lrm']
    batch = 8 if not args.quick else 1
    frames = args.neck_frames if not args.quick else (3, 5)
    sizes = ((32, 24), (64, 48)) if not args.quick else ((8, 6), )
    rows = res['neck'] = []  # filled in place: see save_partial
    for (h, w) in sizes:
        for t in frames:
            for kind in ('glsmamba', 'attention'):
                row = dict(kind=kind, T=t, H=h, W=w, batch=batch)

                def build(kind=kind, t=t, h=h, w=w):
                    model = GLSMambaNeck(num_frames=t, **cfg) \
                        if kind == 'glsmamba' else AttentionNeck(
                            cfg['in_channels'], cfg['embed_dims'], depth)
                    return model, torch.randn(batch, t, cfg['in_channels'],
                                              h, w)

                rows.append(timed_case('neck', row, build, args,
                                       max_reps=5, tuple_input=True))
                save_partial()


def section_train(args, res):
    """One optimiser step of GLSMamba-B on random clips, clips/s."""
    import timm.models.vision_transformer as tv

    from mmpose_stmamba.models.necks.glsmamba_neck import GLSMambaNeck
    from mmpose_stmamba.models.necks.vitpose_deconv import ViTPoseDeconvNeck
    ncfg = neck_cfg()
    dev = args.device
    t = 5
    size = (256, 192) if not args.quick else (64, 48)
    encoder = tv.VisionTransformer(
        img_size=size, patch_size=16, embed_dim=768, depth=12, num_heads=12,
        qkv_bias=True, class_token=False, global_pool='', num_classes=0)
    enc_neck = ViTPoseDeconvNeck(768, (256, 256), (4, 4))
    neck = GLSMambaNeck(num_frames=t, **ncfg)
    head = nn.Conv2d(ncfg['embed_dims'], 17, 1)  # VideoHeatmapHead's layer
    for m in (encoder, enc_neck):
        m.requires_grad_(False).eval()
    modules = nn.ModuleList([encoder, enc_neck, neck, head]).to(dev)
    trainable = [p for p in modules.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=5e-4, weight_decay=1e-4)
    out = dict(trainable_params_M=sum(p.numel() for p in trainable) / 1e6,
               encoder='timm ViT-B/16 (ViTPose-B shape), frozen')
    for batch in ((args.batch, 16, 8) if not args.quick else (1, )):
        free()
        try:
            imgs = torch.randn(batch * t, 3, *size, device=dev)
            target = torch.rand(batch, 17, size[0] // 4, size[1] // 4,
                                device=dev)

            def step():
                with torch.autocast(dev, dtype=torch.bfloat16):
                    with torch.no_grad():
                        f = encoder.forward_features(imgs)  # (BT, hw, 768)
                        f = f.transpose(1, 2).reshape(
                            batch * t, 768, size[0] // 16, size[1] // 16)
                        f = enc_neck((f, ))[0]
                        f = f.view(batch, t, *f.shape[1:])
                    y = neck((f, ))[0][:, t // 2]
                    loss = F.mse_loss(head(y).float(), target)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            m = measure(step, max_reps=5)
            out.update(batch=batch, clips_per_s=batch / (m['ms'] * 1e-3),
                       **m)
            break
        except torch.cuda.OutOfMemoryError as err:
            out['oom_at_batch_%d' % batch] = str(err)[:200]
    res['train'] = out


# ---------------------------------------------------------------- report
def table(res):
    lines = [f"device: {res['device']}"]
    c = res.get('ceilings')
    if c:
        lines.append(f"copy {c['copy_bandwidth_Bps'] / 1e12:.2f} TB/s, "
                     f"exp2 {c.get('exp2_per_s', float('nan')) / 1e12:.2f}"
                     ' T/s')
    for r in res.get('scan', []):
        tag = 'fwd+bwd' if r['backward'] else 'fwd'
        route = r['backend']
        if 'ms' in r:
            lines.append(
                f"scan Dm={r['dm']} B={r['batch']} {route:12s} {tag:7s}"
                f" {r['ms']:8.1f} ms floor {r['floor_ms']:6.1f} "
                f"(x{r['over_floor']:.1f}) peak {r['peak_gib']:.2f} GiB")
        else:
            lines.append(f"scan Dm={r['dm']} {route} {tag}: "
                         f"{r['error']}")
    for r in res.get('block', []):
        name = r['kind'] + ('' if r['backend'] is None else
                            f"[{r['backend']}]")
        lines.append(
            f"block w={r['width']} {name:18s} " +
            (f"{r['ms']:8.1f} ms peak {r['peak_gib']:.2f} GiB "
             f"params {r['params_M']:.2f}M" if 'ms' in r else r['error']))
    for r in res.get('neck', []):
        lines.append(
            f"neck {r['kind']:9s} T={r['T']:2d} {r['H']}x{r['W']} " +
            (f"{r['ms']:8.1f} ms peak {r['peak_gib']:.2f} GiB" if 'ms' in r
             else r['error']))
    tr = res.get('train')
    if tr and 'clips_per_s' in tr:
        lines.append(f"train GLSMamba-B B={tr['batch']}: {tr['ms']:.1f} ms, "
                     f"{tr['clips_per_s']:.1f} clips/s, peak "
                     f"{tr['peak_gib']:.2f} GiB")
    return '\n'.join(lines)


def plots(res, out_dir):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return
    blocks = [r for r in res.get('block', []) if 'ms' in r]
    if blocks:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        names = [f"w{r['width']} {r['kind']}"
                 + ('' if r['backend'] is None else f"\n{r['backend']}")
                 for r in blocks]
        axes[0].bar(names, [r['ms'] for r in blocks])
        axes[0].set_ylabel('fwd+bwd ms')
        axes[1].bar(names, [r['peak_gib'] for r in blocks])
        axes[1].set_ylabel('peak GiB')
        for ax in axes:
            ax.tick_params(axis='x', labelsize=7)
        fig.suptitle(f"block, B={blocks[0]['batch']} T,H,W="
                     f"{blocks[0]['grid']} bf16 ({res['device']})")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, 'block.png'), dpi=100)
        plt.close(fig)
    necks = [r for r in res.get('neck', []) if 'ms' in r]
    if necks:
        fig, ax = plt.subplots(figsize=(6, 4))
        for kind in ('glsmamba', 'attention'):
            for hw in sorted({(r['H'], r['W']) for r in necks}):
                pts = [(r['T'], r['ms']) for r in necks
                       if r['kind'] == kind and (r['H'], r['W']) == hw]
                if pts:
                    ax.plot(*zip(*pts), marker='o',
                            label=f'{kind} {hw[0]}x{hw[1]}')
        ax.set_xlabel('T')
        ax.set_ylabel('fwd+bwd ms')
        ax.set_yscale('log')
        ax.legend(fontsize=7)
        ax.set_title(f'neck scaling ({res["device"]})')
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, 'neck.png'), dpi=100)
        plt.close(fig)
    scans = [r for r in res.get('scan', []) if 'ms' in r]
    if scans:
        fig, ax = plt.subplots(figsize=(9, 4))
        names = [f"Dm{r['dm']} B{r['batch']}\n{r['backend']} "
                 f"{'f+b' if r['backward'] else 'f'}" for r in scans]
        ax.bar(names, [r['ms'] for r in scans], label='measured')
        ax.scatter(names, [r['floor_ms'] for r in scans], color='k',
                   marker='_', s=400, label='floor', zorder=3)
        ax.set_yscale('log')
        ax.set_ylabel('ms')
        ax.tick_params(axis='x', labelsize=6)
        ax.legend()
        ax.set_title(f'STS6D scan alone ({res["device"]})')
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, 'scan.png'), dpi=100)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='work_dirs/benchmark')
    parser.add_argument('--sections', default=','.join(SECTIONS))
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--scan-dms', default='512,192',
                        help='channels per order in the scan section')
    parser.add_argument('--neck-backend', default='auto',
                        help='scan backend of the neck and train sections '
                        '(sets STMAMBA_SCAN_BACKEND)')
    parser.add_argument('--neck-frames', default='3,5,9,17',
                        help='clip lengths of the neck section')
    parser.add_argument('--scan-backends', default='triton,mamba_ssm,torch',
                        help='routes timed in the scan section (and the '
                        "block section's scan backends)")
    parser.add_argument('--block-widths', default='192,256',
                        help='block widths of the block section')
    add_block_arguments(parser)  # the block, neck and train sections
    parser.add_argument('--quick', action='store_true',
                        help='tiny shapes: a smoke test, on CPU too')
    args = parser.parse_args(argv)
    args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.scan_dms = [int(v) for v in args.scan_dms.split(',')]
    args.block_widths = [int(v) for v in args.block_widths.split(',')]
    args.scan_backends = args.scan_backends.split(',')
    args.neck_frames = [int(v) for v in args.neck_frames.split(',')]
    set_block_arguments(args)
    if args.quick:
        args.batch = min(args.batch, 2)
    os.makedirs(args.out, exist_ok=True)
    reason = enter_package()
    res = dict(device=torch.cuda.get_device_name()
               if args.device == 'cuda' else 'cpu',
               torch=torch.__version__, package_import=reason or 'full',
               args=vars(args), errors={})
    try:
        import triton
        res['triton'] = triton.__version__
    except ImportError:
        pass
    global PARTIAL
    PARTIAL = (res, os.path.join(args.out, 'results.json'))
    for name in args.sections.split(','):
        t0 = time.time()
        if name in ('neck', 'train') and args.neck_backend != 'auto':
            os.environ['STMAMBA_SCAN_BACKEND'] = args.neck_backend
        else:
            os.environ.pop('STMAMBA_SCAN_BACKEND', None)
        try:
            globals()[f'section_{name}'](args, res)
        except Exception as err:
            res['errors'][name] = traceback.format_exc()[-2000:]
            print(f'section {name} failed: {err}', flush=True)
        res.setdefault('section_s', {})[name] = time.time() - t0
        save_partial()
    plots(res, args.out)
    text = table(res)
    with open(os.path.join(args.out, 'table.txt'), 'w') as f:
        f.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
