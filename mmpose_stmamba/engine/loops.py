"""An epoch-based train loop that resumes mid-epoch on the same schedule.

References:
    MMEngine's ``EpochBasedTrainLoop`` restores ``epoch`` and ``iter`` from
    a checkpoint but then runs the interrupted epoch from its first batch
    again.  After a run is killed mid-epoch (a checkpoint saved every N
    iterations, ``CheckpointHook(by_epoch=False)``), ``--resume`` would
    repeat the batches already trained on, the iteration counter would end
    beyond ``max_iters``, and iteration-based schedules (warm-up) would run
    past their plan.  This loop skips the batches of the interrupted epoch
    that the checkpoint already covers, so the resumed run performs exactly
    the remaining iterations of the original schedule.  The order of the
    batches is the original one when the sampler is seeded
    (``randomness=dict(seed=...)`` in the config; ``DefaultSampler`` draws
    its order from the seed and the epoch).  Skipped batches are still
    loaded by the data loader (their samples are discarded, no forward
    pass): cheap for a few hundred batches, not free.
"""
from mmengine.runner import EpochBasedTrainLoop
from mmpose.registry import LOOPS


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that continues an interrupted epoch.

    Same arguments as MMEngine's ``EpochBasedTrainLoop``.  Use it with
    ``train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=...,
    val_interval=...)``.
    """

    def batches_done_in_epoch(self):
        """Batches of the current epoch already trained (0 unless resumed).

        Returns:
            int: ``iter - epoch * len(dataloader)``.
        """
        done = self._iter - self._epoch * len(self.dataloader)
        if not 0 <= done < len(self.dataloader):
            raise RuntimeError(
                f'resumed state is inconsistent with the data loader: iter='
                f'{self._iter}, epoch={self._epoch}, {len(self.dataloader)} '
                'batches per epoch (did the data set or batch size change '
                'since the checkpoint was written?)')
        return done

    def run_epoch(self):
        """Iterate one epoch, skipping batches a resumed checkpoint covers."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self.batches_done_in_epoch()
        if done:
            self.runner.logger.info(
                f'Resuming epoch {self._epoch + 1} after batch {done} of '
                f'{len(self.dataloader)} (iteration {self._iter})')
        for idx, data_batch in enumerate(self.dataloader):
            if idx < done:
                continue
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
