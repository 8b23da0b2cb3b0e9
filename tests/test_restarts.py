"""Restarts: candidates differ in their seed only, the best by the label-free score is continued, and the
run folder records every candidate's score."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from test_training import TINY

from jointvae_tf.core.config import RunConfig, TrainConfig
from jointvae_tf.errors import ConfigError
from jointvae_tf.evaluation.selection import selection_score, unlabeled_validation
from jointvae_tf.run_folders.folder import RunFolder, open_run
from jointvae_tf.training.restarts import candidate_seed
from jointvae_tf.training.trainer import train

RESTARTS = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=3, restarts=3, restart_steps=3))
"""Three candidates of one epoch (4 steps: 3 rounded up), then two more epochs of the best."""


def test_candidate_zero_is_the_run_itself_and_every_candidate_has_its_own_seed():
    for seed in (0, 1, 7):
        seeds = [candidate_seed(seed, index) for index in range(8)]
        assert seeds[0] == seed
        assert len(set(seeds)) == 8
        assert all(0 <= s < 2**31 for s in seeds)
    assert candidate_seed(0, 1) != candidate_seed(1, 1)


@pytest.mark.parametrize("name", ["restarts", "restart_steps"])
def test_restart_settings_below_one_are_refused(name):
    with pytest.raises(ConfigError, match=name):
        RunConfig.from_settings({f"train.{name}": 0})
    result = CliRunner().invoke(main, ["train", f"--{name.replace('_', '-')}", "0"])
    assert result.exit_code == 2
    assert f"--{name.replace('_', '-')}" in result.stderr.splitlines()[0]


@pytest.mark.slow
def test_the_best_scored_candidate_is_continued_and_recorded(tmp_path):
    run_dir = str(tmp_path / "run")
    result = train(RESTARTS, run_dir, verbose=0)
    assert result.step == 3 * 4

    with open(RunFolder(run_dir).restarts) as f:
        record = json.load(f)
    candidates = record["candidates"]
    assert [c["index"] for c in candidates] == [0, 1, 2]
    assert [c["seed"] for c in candidates] == [candidate_seed(TINY.train.seed, i) for i in range(3)]
    assert all(c["step"] == 4 for c in candidates)
    scores = [c["score"]["score"] for c in candidates]
    assert record["chosen"] == int(np.argmax(scores))
    assert len(set(scores)) > 1, "candidates from different weights should not all score the same"

    # The continued model is the chosen candidate: the saved model carries the chosen seed.
    assert keras.models.load_model(RunFolder(run_dir).model_file).seed == candidates[record["chosen"]]["seed"]
    assert open_run(run_dir).step == 3 * 4
    assert RunConfig.load(RunFolder(run_dir).config) == RESTARTS

    # Resuming a run that is past its candidates trains on and does not start them again.
    longer = dataclasses.replace(RESTARTS, train=dataclasses.replace(RESTARTS.train, epochs=4))
    assert train(longer, run_dir, resume=True, verbose=0).step == 4 * 4
    with open(RunFolder(run_dir).restarts) as f:
        assert json.load(f) == record


@pytest.mark.slow
def test_the_recorded_score_is_the_chosen_model_s_score_when_it_was_chosen(tmp_path):
    """Candidates train exactly as long as the restart phase says: a run that ends there keeps the chosen
    candidate unchanged, so scoring it again gives the recorded score."""
    run = dataclasses.replace(RESTARTS, train=dataclasses.replace(RESTARTS.train, epochs=1))
    run_dir = str(tmp_path / "run")
    assert train(run, run_dir, verbose=0).step == 4
    with open(RunFolder(run_dir).restarts) as f:
        record = json.load(f)
    chosen = record["candidates"][record["chosen"]]
    again = selection_score(open_run(run_dir).model, unlabeled_validation(run), seed=run.train.seed,
                            normalize=run.data.normalize)
    assert again.score == pytest.approx(chosen["score"]["score"], abs=1e-6)
    assert again.score == pytest.approx(max(c["score"]["score"] for c in record["candidates"]), abs=1e-6)


def _scripted_restarts(monkeypatch, scripts):
    """``best_start`` over candidates of a tiny model, each scored every epoch of 2 steps by ``scripts``:
    per candidate, its (score, used) at each of 3 epochs, instead of measured ones."""
    from jointvae_tf.evaluation.selection import SelectionScore
    from jointvae_tf.training import restarts
    from jointvae_tf.training.trainer import build_model

    run = RunConfig(model=dataclasses.replace(TINY.model, hidden_units=32),
                    train=TrainConfig(restarts=len(scripts), restart_steps=6, steps_per_execution=1, seed=3))
    seeds = {candidate_seed(run.train.seed, i): i for i in range(len(scripts))}

    def scripted(model, scoring):
        score, used = scripts[seeds[model.seed]][int(model.optimizer.iterations.numpy()) // 2 - 1]
        return SelectionScore(score, 1.0, 0.0, used), None

    monkeypatch.setattr(restarts, "scored_encoding", scripted)
    monkeypatch.setattr(restarts, "CHECK_STEPS", 2)
    images = np.random.default_rng(0).random((16, 32, 32, 1), np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(images).repeat().batch(8)
    return restarts.best_start(run, build_model, dataset, 2, images, verbose=0)


def test_a_candidate_clearly_behind_is_dropped_early_and_a_collapsed_one_is_never_kept(monkeypatch):
    model, phase = _scripted_restarts(monkeypatch, [
        [(0.9, 1.0), (0.9, 1.0), (0.95, 0.3)],   # best score, but only 30% of its categories in use at the end
        [(0.5, 1.0), (0.6, 1.0), (0.6, 1.0)],
        [(0.3, 1.0), (0.6, 1.0), (0.9, 1.0)],   # 0.2 behind candidate 1 after one epoch: dropped there
    ])
    assert phase.chosen == 1 and model.seed == phase.candidates[1].seed
    assert int(model.optimizer.iterations.numpy()) == 6
    assert [c.step for c in phase.candidates] == [6, 6, 2]
    assert phase.candidates[0].dropped.startswith("collapsed")
    assert not phase.candidates[1].dropped
    assert phase.candidates[2].dropped.startswith("dropped at step 2")


def test_when_every_candidate_collapsed_the_run_fails(monkeypatch):
    from jointvae_tf.training.restarts import EveryStartCollapsed

    with pytest.raises(EveryStartCollapsed, match="every one of the 2 candidates collapsed"):
        _scripted_restarts(monkeypatch, [[(0.9, 0.4)] * 3, [(0.8, 0.2)] * 3])
