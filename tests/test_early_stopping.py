"""Stopping when the discrete code has settled: the rule on measurements, the callback on a tiny model, and
a run that stops, stays stopped on resume, and trains on when a length is given."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from jointvae_tf.core.config import CapacitySchedule, LatentSpec, ModelConfig, RunConfig, TrainConfig
from jointvae_tf.evaluation.selection import SelectionScore
from jointvae_tf.run_folders.folder import RunFolder
from jointvae_tf.training.early_stopping import CodeCheck, StopWhenSettled
from jointvae_tf.training.presets import build_run_config
from jointvae_tf.training.trainer import build_model, train
from test_selection import blobs
from test_training import TINY


def checks(changed, scores, losses):
    return [CodeCheck(100 * i, c, SelectionScore(s, 1.0, -loss)) for i, (c, s, loss) in
            enumerate(zip(changed, scores, losses))]


def rule(history, **kwargs):
    stopper = StopWhenSettled(np.zeros((1, 32, 32, 1), np.float32), patience=3, **kwargs)
    stopper.checks = history
    return stopper.settled()


def test_settled_means_few_changes_on_average_and_neither_score_nor_loss_improving_over_the_last_evaluations():
    flat = checks([1.0, 0.3, 0.01, 0.0, 0.05], [0.5, 0.8, 0.8, 0.805, 0.79], [100, 90, 90, 90.2, 89.9])
    assert rule(flat)
    assert not rule(flat[:4])  # three evaluations after the first are needed to compare with
    moving = checks([1.0, 0.3, 0.08, 0.16, 0.09], [0.5, 0.8, 0.8, 0.8, 0.8], [100, 90, 90, 90, 90])
    assert not rule(moving)  # 11% of the images changed category per look over the last three
    assert rule(moving, max_changed=0.12)
    one_noisy_look = checks([1.0, 0.3, 0.02, 0.2, 0.02], [0.5, 0.8, 0.8, 0.8, 0.8], [100, 90, 90, 90, 90])
    assert rule(one_noisy_look)  # 8% on average: border images of a class's two categories keep moving
    rising = checks([1.0, 0.3, 0.0, 0.0, 0.0], [0.5, 0.8, 0.8, 0.8, 0.83], [100, 90, 90, 90, 90])
    assert not rule(rising)  # the score still rises by more than 0.01
    falling = checks([1.0, 0.3, 0.0, 0.0, 0.0], [0.5, 0.8, 0.8, 0.8, 0.8], [100, 90, 90, 90, 89])
    assert not rule(falling)  # the loss still falls by more than 1%
    slowly_falling = checks([1.0, 0.3, 0.0, 0.0, 0.0], [0.5, 0.8, 0.8, 0.8, 0.8], [100, 90, 90, 90, 89.2])
    assert rule(slowly_falling)  # 0.9%: as while the continuous capacity opens after the code has settled
    assert rule(falling, min_loss_gain=0.02)


def test_a_runs_callback_takes_its_settings_from_the_run_config():
    shapes = build_run_config("four_shapes")
    stopper = StopWhenSettled.for_run(shapes, np.zeros((4, 32, 32, 1), np.float32), verbose=0)
    assert stopper.min_loss_gain == shapes.train.settle_loss_gain == 0.02  # its loss falls while C_z opens
    assert stopper.every == shapes.train.settle_every and stopper.stop_when_settled
    assert stopper.min_steps == 1_981  # where log 8 clips the discrete capacity's ramp (0 -> 2.1 over 2k)
    digits = build_run_config("npz", {"train.steps": 500})
    stopper = StopWhenSettled.for_run(digits, np.zeros((4, 32, 32, 1), np.float32), verbose=0)
    assert stopper.min_loss_gain == TrainConfig().settle_loss_gain and not stopper.stop_when_settled
    assert stopper.patience == TrainConfig().settle_patience == 3


def frozen_model(disc=(3,), steps_per_execution=1):
    """A tiny model whose optimizer barely moves it, so its code stays as it starts (with these weights:
    all three categories in use on the blobs of :func:`images`)."""
    keras.utils.set_random_seed(2)
    return build_model(RunConfig(model=ModelConfig(latent=LatentSpec(2, disc), hidden_units=32),
                                 train=TrainConfig(learning_rate=1e-12, steps_per_execution=steps_per_execution)))


def images(n=64, seed=0):
    """Blobs in the four quadrants: the frozen model puts them in at least two of its three categories."""
    return blobs(n, seed)[0]


def test_a_code_that_does_not_change_stops_training_after_patience_evaluations():
    model = frozen_model()
    stopper = StopWhenSettled(images(), every=2, patience=2, verbose=0)
    history = model.fit(images(128, 1), epochs=10, batch_size=8, callbacks=[stopper], verbose=0)
    # Checks at steps 2, 4, 6: the first has nothing to compare with, the next two are settled.
    assert stopper.stopped_at == 6 and int(model.optimizer.iterations.numpy()) == 6
    assert "settled" in stopper.reason and not stopper.collapsed
    assert all(c.score.used >= 0.5 and c.changed == 0.0 for c in stopper.checks[1:])
    assert len(history.history["loss"]) == 1  # ended inside the first epoch of 16 steps


def test_the_reason_gives_the_steps_between_looks_as_they_were_taken():
    model = frozen_model(steps_per_execution=3)  # looks only between executions: every 6 steps, not 4
    stopper = StopWhenSettled(images(), every=4, patience=2, verbose=0)
    model.fit(images(96, 1), epochs=10, batch_size=8, callbacks=[stopper], verbose=0)  # epochs of 12 steps
    assert [c.step for c in stopper.checks] == [6, 12, 18] and stopper.stopped_at == 18
    assert "(every 6 steps)" in stopper.reason


def test_no_stop_before_min_steps_nor_when_stopping_is_off():
    model = frozen_model()
    stopper = StopWhenSettled(images(), every=2, patience=2, min_steps=10, verbose=0)
    model.fit(images(128, 1), epochs=10, batch_size=8, callbacks=[stopper], verbose=0)
    assert stopper.stopped_at == 10
    model = frozen_model()
    stopper = StopWhenSettled(images(), every=2, patience=2, stop_when_settled=False, verbose=0)
    model.fit(images(64, 1), epochs=2, batch_size=8, callbacks=[stopper], verbose=0)
    assert stopper.stopped_at is None and int(model.optimizer.iterations.numpy()) == 16
    assert len(stopper.checks) == 8


def test_a_collapsed_code_stops_training_even_when_stopping_is_off():
    model = frozen_model()
    layer = model.encoder.get_layer("encoding")
    kernel, bias = layer.get_weights()
    kernel[:, -3:], bias[-3:] = 0.0, [0.0, 2.0, 0.0]  # every image in category 1
    layer.set_weights([kernel, bias])
    stopper = StopWhenSettled(images(), every=2, patience=2, stop_when_settled=False, verbose=0)
    model.fit(images(128, 1), epochs=10, batch_size=8, callbacks=[stopper], verbose=0)
    assert stopper.checks[0].score.used == pytest.approx(1 / 3)
    assert stopper.collapsed and stopper.stopped_at == 4 and "collapsed" in stopper.reason


SETTLING = dataclasses.replace(
    TINY, model=dataclasses.replace(TINY.model, disc_capacity=CapacitySchedule(0.0, 1.0, 0)),
    train=dataclasses.replace(TINY.train, epochs=10, learning_rate=1e-12, settle_every=4, checkpoint_every=100))
"""Ten epochs of 4 steps at a learning rate that keeps the code as it starts, looked at every 4 steps."""


@pytest.mark.slow
def test_a_run_stops_when_settled_stays_stopped_on_resume_and_trains_a_length_given(tmp_path):
    run_dir = str(tmp_path / "run")
    folder = RunFolder(run_dir)
    result = train(SETTLING, run_dir, verbose=0)
    assert result.step == 16 and "settled" in result.stopped  # checks at 4, 8, 12, 16 of the 40 steps
    assert [s for s, _ in folder.checkpointer(None).checkpoints()][-1] == 16
    with open(folder.stopped) as f:
        assert json.load(f)["step"] == 16
    assert "val_cluster_accuracy" in result.logs and "val_nmi" in result.logs  # evaluated where it stopped
    assert os.path.isfile(folder.model_file)

    assert train(SETTLING, run_dir, resume=True, verbose=0).step == 16  # nothing left to train

    forced = dataclasses.replace(SETTLING, train=dataclasses.replace(SETTLING.train, steps=24,
                                                                     stop_when_settled=False))
    result = train(forced, run_dir, resume=True, verbose=0)
    assert result.step == 24 and not result.stopped and not os.path.exists(folder.stopped)


@pytest.mark.slow
def test_a_run_given_its_length_trains_it_whole(tmp_path):
    forced = dataclasses.replace(SETTLING, train=dataclasses.replace(SETTLING.train, stop_when_settled=False))
    result = train(forced, str(tmp_path / "run"), verbose=0)
    assert result.step == 40 and not result.stopped
