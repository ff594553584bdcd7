"""Report, once per epoch, how many supporting frames were substituted.

References: our design.  :class:`LoadClipFrames` runs inside data loader
workers, whose counters the main process cannot see; so each sample carries
its substituted paths in metainfo (``missing_frames``, packed by
:class:`PackClipInputs`) and this hook, in the main process, sums them per
train epoch and per validation / test run and logs one line through the
runner's MMEngine logger.  It lives next to the data code it reports on.
"""
import logging
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class MissingFrameReportHook(Hook):
    """Log the number of missing supporting frames once per epoch.

    Add ``custom_hooks = [dict(type='MissingFrameReportHook')]`` to a
    config whose pipeline ends in :class:`PackClipInputs`.  Logs at WARNING
    when frames were substituted (with up to ``num_examples`` paths), at
    INFO when none were.

    With an iteration-based loop (one long "epoch"), set ``interval`` to
    also report the training count every ``interval`` iterations.

    Args:
        num_examples (int): How many missing paths to quote. Defaults to 3.
        interval (int, optional): Report training counts every this many
            iterations too. Defaults to None (per epoch only).
    """

    priority = 'LOW'

    def __init__(self, num_examples: int = 3, interval: Optional[int] = None):
        if interval is not None and interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval!r}')
        self.num_examples = num_examples
        self.interval = interval
        self._reset()

    def _reset(self) -> None:
        self.num_missing = 0
        self.num_samples = 0
        self.num_affected = 0
        self.examples = []

    def _count(self, data_batch: Optional[dict]) -> None:
        if not data_batch or 'data_samples' not in data_batch:
            return
        samples: Sequence = data_batch['data_samples']
        for sample in samples:
            missing = sample.metainfo.get('missing_frames', [])
            self.num_samples += 1
            if missing:
                self.num_affected += 1
                self.num_missing += len(missing)
                for path in missing:
                    if len(self.examples) < self.num_examples:
                        self.examples.append(path)

    def _report(self, runner, what: str) -> None:
        if self.num_missing:
            runner.logger.log(
                logging.WARNING,
                f'{what}: {self.num_missing} supporting frames were missing '
                f'in {self.num_affected} of {self.num_samples} samples and '
                'were replaced by the nearest existing frame of their clip; '
                f'e.g. {", ".join(self.examples)}')
        else:
            runner.logger.info(f'{what}: no missing supporting frames in '
                               f'{self.num_samples} samples')
        self._reset()

    def before_train_epoch(self, runner) -> None:
        self._reset()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._count(data_batch)
        if self.interval and self.every_n_train_iters(runner, self.interval):
            self._report(runner, f'train iter {runner.iter + 1}')

    def after_train_epoch(self, runner) -> None:
        self._report(runner, f'train epoch {runner.epoch + 1}')

    def before_val_epoch(self, runner) -> None:
        self._train_state = (self.num_missing, self.num_samples,
                             self.num_affected, list(self.examples))
        self._reset()

    def after_val_iter(self,
                       runner,
                       batch_idx,
                       data_batch=None,
                       outputs=None) -> None:
        self._count(data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'val')
        # validation inside a train epoch (iteration-based) resumes counting
        (self.num_missing, self.num_samples, self.num_affected,
         self.examples) = self._train_state

    def before_test_epoch(self, runner) -> None:
        self._reset()

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None) -> None:
        self._count(data_batch)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'test')
