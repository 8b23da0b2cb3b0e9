"""Stop a run once its discrete code has settled, without labels, as ``keras.callbacks.EarlyStopping``
stops one whose monitored value has stopped improving.

Every ``every`` optimizer steps :class:`StopWhenSettled` encodes unlabeled validation images and measures
three things (:mod:`jointvae_tf.evaluation.selection`): the fraction of images whose categories changed
since the previous evaluation, the label-free selection score (a code that is stable under small moves
and uses its categories) and the validation loss (the negative held-out ELBO, nats per image). The code
has settled when, over the last ``patience`` evaluations, on average at most ``max_changed`` of the images
changed category, and neither the score nor the loss improved on the best seen before them by more than
``min_score_gain`` or ``min_loss_gain``. Training then ends at that step; the
run's step budget stays an upper bound.

A code that has collapsed (fewer than half of some variable's categories in use,
``SelectionScore.collapsed``) at ``patience`` evaluations in a row also ends training, with
:attr:`StopWhenSettled.collapsed` set, whether or not stopping when settled is on: such a run does not
recover by training on, and it is not worth its remaining steps.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.core.capacity import ramp_end
from jointvae_tf.core.config import RunConfig
from jointvae_tf.evaluation.selection import Augmentation, ScoringImages, SelectionScore, scored_encoding


@dataclasses.dataclass(frozen=True)
class CodeCheck:
    """One evaluation: the optimizer step, the fraction of validation images whose categories changed since
    the previous one (1.0 at the first), the label-free score and the validation loss (nats per image)."""

    step: int
    changed: float
    score: SelectionScore

    @property
    def loss(self) -> float:
        return -self.score.elbo


class StopWhenSettled(keras.callbacks.Callback):
    """Ends training when the discrete code has settled (see the module docstring), or has collapsed.

    Args:
      images: unlabeled validation images ``[N, H, W, C]`` float in [0, 1], before the normalisation
        ``normalize`` of the run's data pipeline (``selection.unlabeled_validation``).
      normalize: the run's ``DataConfig.normalize``.
      every: optimizer steps between evaluations (checked between executions, so a multiple of the steps
        per execution in practice).
      patience: evaluations in a row that must all show a settled (or collapsed) code.
      max_changed: largest fraction of images that may change category between two evaluations, on
        average over the last ``patience``. With two categories per class, images on the border of a
        class's two categories keep moving between them after the classes have settled: 1-3.5% of
        four_shapes' images and 5-10% of handwritten digits' per 250 steps (docs/reference/stopping.md).
      min_score_gain: a rise of the selection score (in [0, 1]) smaller than this is no improvement.
      min_loss_gain: a fall of the validation loss smaller than this fraction of it is no improvement. The
        loss keeps falling slowly while the continuous capacity opens, long after the code has settled.
      min_steps: no stop for a settled code before this step (e.g. the end of the discrete capacity's ramp,
        while the code is still given room to grow).
      stop_when_settled: False to watch for a collapse only (a run whose length was given).
      seed: seed of the selection score's moved views. views: moved views per image.
      log_dir: TensorBoard folder for the measurements (``code/changed``, ``code/score``, ...), or None.
      verbose: print each evaluation (2), only why training stopped (1), or nothing (0).
    """

    def __init__(self, images: np.ndarray, normalize: str = "none", every: int = 250, patience: int = 3,
                 max_changed: float = 0.10, min_score_gain: float = 0.01, min_loss_gain: float = 0.01,
                 min_steps: int = 0, stop_when_settled: bool = True, seed: int = 0, views: int = 2,
                 log_dir: str | None = None, verbose: int = 1):
        super().__init__()
        self.scoring = ScoringImages.prepare(images, Augmentation(views=views), seed, normalize)  # once: every look
        self.every = every
        self.patience = patience
        self.max_changed = max_changed
        self.min_score_gain = min_score_gain
        self.min_loss_gain = min_loss_gain
        self.min_steps = min_steps
        self.stop_when_settled = stop_when_settled
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.verbose = verbose
        self.checks: list[CodeCheck] = []
        self.categories: np.ndarray | None = None
        self.last_step = 0
        self.stopped_at: int | None = None
        self.reason = ""
        self.collapsed = False

    @classmethod
    def for_run(cls, run: RunConfig, images: np.ndarray, log_dir: str | None = None,
                verbose: int = 1) -> StopWhenSettled:
        """The callback a run of ``run`` trains with (``images`` as in the class): looks every
        ``train.settle_every`` steps, ``train.settle_patience`` and ``train.settle_loss_gain``, the run's seed
        and normalisation, stopping when settled as ``train.stop_when_settled`` says, and not before the
        discrete capacity is fully open."""
        return cls(images, run.data.normalize, every=run.train.settle_every, patience=run.train.settle_patience,
                   min_loss_gain=run.train.settle_loss_gain,
                   min_steps=ramp_end(run.model.disc_capacity, run.model.latent.max_disc_capacity),
                   stop_when_settled=run.train.stop_when_settled, seed=run.train.seed, log_dir=log_dir,
                   verbose=verbose)

    def on_train_begin(self, logs=None):
        self.last_step = self._step()

    def _step(self) -> int:
        return int(self.model.training_step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step - self.last_step < self.every or self.stopped_at is not None:
            return
        self.last_step = step
        check = self.check(step)
        if self.collapsed_for_long():
            self._stop(step, f"the discrete code collapsed: {check.score.used:.0%} of its categories in use on the "
                             f"validation images at each of the last {self.patience} evaluations")
            self.collapsed = True
        elif self.stop_when_settled and step >= self.min_steps and self.settled():
            spacing = step - self.checks[-2].step  # as taken: looks fall between executions
            self._stop(step, f"the discrete code settled: on average at most {self.max_changed:.0%} of the validation "
                             f"images changed category over the last {self.patience} evaluations (every {spacing} "
                             f"steps), and neither the label-free score ({check.score.score:.3f}) nor the "
                             f"validation loss ({check.loss:.2f} nats) improved")

    def check(self, step: int) -> CodeCheck:
        """Measure the code at ``step``, remember and log it; the measurement."""
        score, encoded = scored_encoding(self.model, self.scoring)
        categories = encoded.categories
        changed = 1.0 if self.categories is None else float(np.mean(np.any(categories != self.categories, axis=1)))
        self.categories = categories
        check = CodeCheck(step, changed, score)
        self.checks.append(check)
        if self.writer is not None:
            with tf.summary.record_if(True), self.writer.as_default(step=step):
                for name, value in {"changed": changed, **score.to_dict()}.items():
                    tf.summary.scalar(f"code/{name}", value)
            self.writer.flush()
        if self.verbose > 1:
            print(f"\nstep {step}: {changed:.1%} changed category, score {score.score:.3f}, "
                  f"{score.used:.0%} of categories in use, validation loss {check.loss:.2f} nats")
        return check

    def settled(self) -> bool:
        """Whether the last ``patience`` checks show a settled code (see the module docstring)."""
        if len(self.checks) <= self.patience:
            return False
        before, window = self.checks[:-self.patience], self.checks[-self.patience:]
        best_score = max(c.score.score for c in before)
        best_loss = min(c.loss for c in before)
        return (np.mean([c.changed for c in window]) <= self.max_changed
                and max(c.score.score for c in window) <= best_score + self.min_score_gain
                and min(c.loss for c in window) >= best_loss - self.min_loss_gain * abs(best_loss))

    def collapsed_for_long(self) -> bool:
        """Whether the code has been collapsed at each of the last ``patience`` checks."""
        window = self.checks[-self.patience:]
        return len(window) == self.patience and all(c.score.collapsed for c in window)

    def _stop(self, step: int, reason: str) -> None:
        self.stopped_at, self.reason = step, f"stopped at step {step}: {reason}"
        self.model.stop_training = True
        if self.verbose:
            print(f"\n{self.reason}.")
