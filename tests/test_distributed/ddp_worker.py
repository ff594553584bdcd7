"""One rank of the CPU/gloo distributed check (run by test_ddp.py).

Usage: python ddp_worker.py MODE OUT_DIR CKPT   with RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT in the environment (WORLD_SIZE=1 and no process
group for the single-process reference).

MODE ``test``: runs MMEngine's test loop of the demo config with the
checkpoint and writes the metrics (rank 0) and the PoseTrack JSON files.
MODE ``train``: two training iterations with DDP and a frozen encoder, then
every rank saves its parameters, so the test can check that the trainable
ones agree across ranks (gradients were averaged) and the frozen ones did
not move.
"""
import json
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DEMO_CFG = osp.join(ROOT, 'configs', 'demo',
                    'glsmamba-demo_resnet18_posetrack18-samples-128x96.py')


def build_cfg(mode, out_dir, ckpt, world_size):
    cfg = Config.fromfile(DEMO_CFG)
    cfg.work_dir = osp.join(out_dir, 'work')
    cfg.launcher = 'pytorch' if world_size > 1 else 'none'
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    # CPU DDP: no device_ids (MMEngine's default names a CUDA device)
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.load_from = ckpt
    cfg.randomness = dict(seed=0)
    if mode == 'test':
        # 13 instances: an odd count, so 2 ranks get a padded sampler and
        # the gathered results must be cut back without duplicates
        loader = cfg.test_dataloader
        loader.batch_size = 3
        loader.dataset.indices = 13
        loader.sampler = dict(type='DefaultSampler', shuffle=False)
        cfg.test_evaluator.outfile_prefix = osp.join(out_dir, 'pred')
    else:
        cfg.model.freeze_encoder = True
        cfg.train_dataloader.batch_size = 2
        cfg.train_dataloader.sampler = dict(
            type='DefaultSampler', shuffle=False)
        cfg.train_cfg = dict(by_epoch=False, max_iters=2, val_interval=100)
        cfg.param_scheduler = []
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.custom_hooks = []
    return cfg


def main():
    mode, out_dir, ckpt = sys.argv[1:4]
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    if world_size > 1:
        dist.init_process_group('gloo', rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    runner = Runner.from_cfg(build_cfg(mode, out_dir, ckpt, world_size))
    if mode == 'test':
        metrics = runner.test()
        if rank == 0:
            with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
                json.dump({k: float(v) for k, v in metrics.items()}, f)
    else:
        runner.train()
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        torch.save({k: v.detach().clone() for k, v in
                    model.state_dict().items()},
                   osp.join(out_dir, f'params_rank{rank}.pth'))
    if world_size > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
