# GLSMamba-B on Sub-JHMDB split 3: split 1's config with the other split
# (average the three splits with tools/eval_jhmdb_splits.py).
_base_ = ['./stmamba_jhmdb_sub1.py']

train_dataloader = dict(dataset=dict(split=3))
val_dataloader = dict(dataset=dict(split=3))
test_dataloader = val_dataloader
