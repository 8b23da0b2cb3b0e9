"""What TensorBoard shows of a run: every term, capacity, KL per dimension, accuracy and picture, read back
from the event files, even beside a Keras TensorBoard callback that logs batches."""

import collections
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.core.model import LOSS_TERMS
from jointvae_tf.training.callbacks import TrainingTensorBoard
from jointvae_tf.training.trainer import build_model, train

from test_training import TINY


def _logged(log_dir) -> dict[str, list[int]]:
    """``{tag: sorted steps}`` of every summary in the event files of ``log_dir``."""
    steps = collections.defaultdict(list)
    for path in glob.glob(os.path.join(str(log_dir), "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps[value.tag].append(event.step)
    return {tag: sorted(found) for tag, found in steps.items()}


@pytest.mark.slow
def test_a_run_shows_every_term_capacity_kl_accuracy_and_picture_per_epoch(tmp_path):
    run_dir = tmp_path / "run"
    # A user's own TensorBoard callback logging batches switches recording off between them for the
    # whole process: the run's values and pictures must be written all the same.
    users = keras.callbacks.TensorBoard(str(tmp_path / "users"), update_freq=3)
    train(TINY, str(run_dir), verbose=0, extra_callbacks=[users])
    last_epoch = TINY.train.epochs - 1

    logged = _logged(run_dir / "logs" / "train")
    for term in (*LOSS_TERMS, "learning_rate"):
        assert logged.get(f"epoch_{term}") == list(range(TINY.train.epochs)), term

    logged = _logged(run_dir / "logs" / "validation")
    for tag in (*(f"epoch_{term}" for term in LOSS_TERMS), "epoch_cluster_accuracy", "kl/z0", "kl/z1", "kl/c0"):
        assert last_epoch in logged.get(tag, []), tag

    logged = _logged(run_dir / "logs" / "pictures")
    for tag in ("traversals", "reconstructions", "samples"):
        assert last_epoch in logged.get(tag, []), tag


def test_batch_values_are_logged_each_time_the_step_passes_a_multiple_of_update_freq(tmp_path):
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (3,)), hidden_units=32))
    model = build_model(run)
    model.compile(steps_per_execution=2)  # Keras sees one batch per two steps
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 1), dtype=np.uint8)
    model.fit(images, batch_size=8, epochs=1, verbose=0,
              callbacks=[TrainingTensorBoard(str(tmp_path), update_freq=3)])
    logged = _logged(tmp_path / "train")
    # Executions end at steps 2, 4, 6, 8: steps 3 and 6 are passed at 4 and 6.
    assert logged["batch_loss"] == [4, 6]
    assert logged["epoch_loss"] == [0]
