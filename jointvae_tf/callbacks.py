"""Keras callbacks of a training run: checkpoints, the divergence guard, held-out evaluation."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from jointvae_tf.checkpoints import Checkpointer
from jointvae_tf.errors import RunFailure


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
            step = int(self.model.optimizer.iterations.numpy())
            raise TrainingDiverged(
                f"training diverged at step {step}: {', '.join(f'{k}={v}' for k, v in bad.items())}; the last "
                "good checkpoint is kept (try a lower --lr or --gamma, or --loss bce)")


class CheckpointEvery(keras.callbacks.Callback):
    """Writes a checkpoint every ``every`` optimizer steps and at the end of every epoch."""

    def __init__(self, checkpointer: Checkpointer, every: int):
        super().__init__()
        self.checkpointer = checkpointer
        self.every = every
        self.last_saved = 0

    def on_train_begin(self, logs=None):
        self.last_saved = int(self.model.optimizer.iterations.numpy())

    def _save_if_new(self):
        step = int(self.model.optimizer.iterations.numpy())
        if step != self.last_saved:
            self.checkpointer.save(step)
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) - self.last_saved >= self.every:
            self._save_if_new()

    def on_epoch_end(self, epoch, logs=None):
        self._save_if_new()


class HeldOutEvaluation(keras.callbacks.Callback):
    """Once an epoch: KL per latent dimension, held-out reconstruction, and cluster accuracy.

    Adds ``val_reconstruction``, ``val_kl_cont``, ``val_kl_disc`` and, when ``labels`` are given,
    ``val_cluster_accuracy`` (first discrete variable's argmax against the labels) to the epoch logs, so
    they show in the progress line and in TensorBoard (scalars and per-dimension KL under ``kl/``).
    ``images``: ``[N, H, W, C]`` float32 in [0, 1]; ``labels``: int ``[N]`` or None.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, log_dir: str, batch_size: int = 256):
        super().__init__()
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.writer = tf.summary.create_file_writer(log_dir)

    def on_epoch_end(self, epoch, logs=None):
        from jointvae_tf.evaluation import encode_dataset
        from jointvae_tf.metrics import cluster_accuracy

        model = self.model
        summary = encode_dataset(model, self.images, self.batch_size)
        values = {"val_reconstruction": summary.reconstruction, "val_kl_cont": float(summary.kl_cont.sum()),
                  "val_kl_disc": float(summary.kl_disc.sum())}
        if self.labels is not None and summary.categories.shape[1]:
            values["val_cluster_accuracy"] = cluster_accuracy(self.labels, summary.categories[:, 0])
        step = int(model.optimizer.iterations.numpy())
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
            for i, kl in enumerate(summary.kl_cont):
                tf.summary.scalar(f"kl/z{i}", kl)
            for i, kl in enumerate(summary.kl_disc):
                tf.summary.scalar(f"kl/c{i}", kl)
        if logs is not None:
            logs.update(values)
