"""Keras callbacks of a training run: checkpoints, the divergence guard, held-out evaluation, TensorBoard.

Every summary these callbacks write is recorded whatever ``tf.summary.record_if`` another callback has
set: Keras' own TensorBoard callback with an integer ``update_freq`` turns recording off for the whole
process between the batches it logs.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.errors import RunFailure
from jointvae_tf.run_folders.checkpoints import Checkpointer


class TrainingDiverged(RunFailure):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training with :class:`TrainingDiverged` as soon as a logged loss term is not finite.

    Must come before :class:`CheckpointEvery` in the callback list, so that a diverged state is never
    written over the last good checkpoint.
    """

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: v for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            step = int(self.model.training_step.numpy())
            raise TrainingDiverged(
                f"training diverged at step {step}: {', '.join(f'{k}={v}' for k, v in bad.items())}; the last "
                "good checkpoint is kept (try a lower train.learning_rate or model.loss.gamma, or model.loss.kind=bce)")


class CheckpointEvery(keras.callbacks.Callback):
    """Writes a checkpoint every ``every`` training steps (``model.training_step``) and when training ends.

    Not at every epoch's end: on small data an epoch is a few dozen steps, and writing model and optimizer
    state (megabytes, synced to disk) that often costs more than the steps. A resumed run continues from
    any step (:func:`~jointvae_tf.training.trainer.train`), so a kill loses at most ``every`` steps.
    """

    def __init__(self, checkpointer: Checkpointer, every: int):
        super().__init__()
        self.checkpointer = checkpointer
        self.every = every
        self.last_saved = 0

    def on_train_begin(self, logs=None):
        self.last_saved = int(self.model.training_step.numpy())

    def _save_if_new(self):
        step = int(self.model.training_step.numpy())
        if step != self.last_saved:
            self.checkpointer.save(step)
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.training_step.numpy()) - self.last_saved >= self.every:
            self._save_if_new()

    def on_train_end(self, logs=None):
        self._save_if_new()


class HeldOutEvaluation(keras.callbacks.Callback):
    """Scores the held-out images while training, within a fixed share of the wall time.

    At the end of an epoch it adds to the epoch logs every term of the objective on ``images``
    (``val_loss``, ``val_reconstruction``, ``val_kl_cont``, ... as ``JointVAE.test_step`` names them, at
    the current training step, latent samples drawn with a fixed seed) and, when ``labels`` are given,
    ``val_cluster_accuracy``, ``val_nmi`` and ``val_classes_with_own_category`` (the first discrete variable,
    scored by :func:`jointvae_tf.evaluation.inference.cluster_scores` as ``jvae-tf evaluate`` scores it), so they show
    in the progress line, the history and Keras' TensorBoard callback (placed after this one). It writes the
    mean KL of each continuous dim and discrete variable (``kl/z0``, ``kl/c0``, nats) to ``log_dir`` at step
    ``epoch``, and then ``pictures`` (a :class:`~jointvae_tf.viz.visualize.ProgressPictures`, optional)
    draws from the same encoding. It runs only while the time spent in it, including the coming
    evaluation (estimated by the last one), stays within ``budget`` of the wall time since training began,
    and always after the last epoch and the epoch where training stops; so on small data it evaluates every
    few epochs, on large data every epoch.

    Args:
      images: ``[N, H, W, C]`` float32 in [0, 1]. labels: int ``[N]`` or None. log_dir: TensorBoard folder.
      pictures: draws the progress pictures, or None. budget: fraction of wall time, in (0, 1].
      batch_size: images per batch; use the run's, the balance term is measured per batch.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, log_dir: str, pictures=None,
                 budget: float = 0.05, batch_size: int = 256):
        super().__init__()
        self.images = images
        self.labels = labels
        self.pictures = pictures
        self.budget = budget
        self.batch_size = batch_size
        self.writer = tf.summary.create_file_writer(log_dir)
        self.started = self.spent = self.last_cost = 0.0
        self.evaluations = 0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) is evaluated: the last one (or one where training stops)
        always, others within the budget."""
        if epoch + 1 >= self.params.get("epochs", epoch + 1) or getattr(self.model, "stop_training", False):
            return True
        elapsed = time.perf_counter() - self.started
        return self.spent + self.last_cost <= self.budget * elapsed

    def on_epoch_end(self, epoch, logs=None):
        if not self.due(epoch):
            return
        start = time.perf_counter()
        values = self.evaluate(epoch)
        if logs is not None:
            logs.update(values)
        self.last_cost = time.perf_counter() - start
        self.spent += self.last_cost
        self.evaluations += 1

    def on_train_end(self, logs=None):
        if self.pictures is not None:
            self.pictures.write_animation()

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Score the held-out images, log the KL per dimension to TensorBoard, draw the pictures; the scores."""
        from jointvae_tf.evaluation.inference import cluster_scores, encode_dataset, objective_terms

        model = self.model
        step = int(model.training_step.numpy())
        terms = objective_terms(model, self.images, step, seed=0, batch_size=self.batch_size)
        values = {f"val_{name}": value for name, value in terms.items()}
        summary = encode_dataset(model, self.images, self.batch_size)
        if self.labels is not None and model.config.latent.disc:
            scores = cluster_scores(self.labels, summary.categories[:, 0], model.config.latent.disc[0])
            values["val_cluster_accuracy"] = scores["cluster_accuracy"]
            values["val_nmi"] = scores["nmi"]
            values["val_classes_with_own_category"] = scores["classes_with_own_category"]
        with tf.summary.record_if(True), self.writer.as_default(step=epoch):
            for i, kl in enumerate(summary.kl_cont):
                tf.summary.scalar(f"kl/z{i}", kl)
            for i, kl in enumerate(summary.kl_disc):
                tf.summary.scalar(f"kl/c{i}", kl)
        self.writer.flush()
        if self.pictures is not None:
            self.pictures.draw(model, summary.kl_cont, summary.kl_disc, epoch)
        return values


class TrainingTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback, with batch values every ``update_freq`` training steps.

    Writes what ``keras.callbacks.TensorBoard`` writes at the end of each epoch (``epoch_*`` under
    ``log_dir/train`` and ``log_dir/validation``, step = epoch) and ``batch_*`` (the running means of the
    epoch) under ``log_dir/train`` whenever the training step passes a multiple of ``update_freq``, at that
    step. Unlike Keras' own with an integer ``update_freq``, it leaves ``tf.summary.record_if`` alone, so
    the other callbacks' summaries are kept, and it counts steps, not calls: with ``steps_per_execution``
    > 1 Keras sees one batch per fused execution.

    Args:
      log_dir: TensorBoard root of the run. update_freq: training steps between batch values.
      **kwargs: the other arguments of ``keras.callbacks.TensorBoard``.
    """

    def __init__(self, log_dir: str, update_freq: int = 100, **kwargs):
        super().__init__(log_dir, update_freq="epoch", **kwargs)
        self.every = update_freq
        self.last_logged = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.last_logged = int(self.model.training_step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        with tf.summary.record_if(True):
            super().on_train_batch_end(batch, None)  # the graph and the profile; the values follow
            step = int(self.model.training_step.numpy())
            if logs and step // self.every > self.last_logged // self.every:
                with self._train_writer.as_default(step=step):
                    for name, value in logs.items():
                        tf.summary.scalar(f"batch_{name}", value)
                self.last_logged = step

    def on_epoch_end(self, epoch, logs=None):
        with tf.summary.record_if(True):
            super().on_epoch_end(epoch, logs)
