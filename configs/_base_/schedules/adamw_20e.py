# GLSMamba schedule (METHOD.md Sec. 6): AdamW, lr 1e-4, x0.1 at epochs 6
# and 12, 20 epochs; weight decay 0.01 (the author's log).  Inferred: no
# decay on the SSM's A_log and D (as Mamba/VMamba) nor on the temporal
# embedding; gradient clipping at 1 (as MMPose's ViTPose configs); batch
# size 16 per GPU (the paper trained on one 24 GB TITAN RTX; not stated).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'mixer.A_log': dict(decay_mult=0.),
            'mixer.D': dict(decay_mult=0.),
            'temporal_embed': dict(decay_mult=0.),
        }),
    clip_grad=dict(max_norm=1., norm_type=2))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=20,
        milestones=[6, 12],
        gamma=0.1,
        by_epoch=True)
]

auto_scale_lr = dict(base_batch_size=16)
