# As the frozen config, but HRNet-W32 is fine-tuned together with the
# GLSMamba neck: gradients flow into the frame encoder, its BatchNorm
# layers train, and it learns 10x slower than the new neck and head.
_base_ = ['./glsmamba_hrnet-w32-frozen_8xb32-20e_posetrack18-256x192.py']

model = dict(freeze_encoder=False)

# the encoder's activations of all 5 frames are now kept for backward:
# half the clips per GPU of the frozen config (not tuned)
train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=128)

# the encoder starts from PoseTrack18 weights; the neck and head are new
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.1))))
