"""The held-out evaluation: when it runs (its share of wall time), and that it scores as `evaluate` does."""

import numpy as np
import pytest

from jointvae_tf import data
from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig, TrainConfig
from jointvae_tf.evaluation.report import evaluate_model
from jointvae_tf.training import callbacks
from jointvae_tf.training.callbacks import HeldOutEvaluation
from jointvae_tf.training.trainer import build_model


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", fake)
    return fake


def _started(log_dir, epochs=10):
    evaluation = HeldOutEvaluation(np.zeros((2, 32, 32, 1), "float32"), None, str(log_dir), budget=0.05)
    evaluation.set_params({"epochs": epochs})
    evaluation.on_train_begin()
    return evaluation


def test_evaluation_runs_while_its_cost_stays_within_the_budget(clock, tmp_path):
    evaluation = _started(tmp_path)
    clock.now += 100.0  # 100 s of training: 5 s may go to evaluation
    evaluation.spent, evaluation.last_cost = 4.0, 1.0
    assert evaluation.due(3)  # 4 + 1 <= 5
    evaluation.spent = 4.5
    assert not evaluation.due(3)  # 4.5 + 1 > 5
    clock.now += 20.0  # 120 s: 6 s allowed
    assert evaluation.due(4)


def test_the_last_epoch_is_always_evaluated(clock, tmp_path):
    evaluation = _started(tmp_path, epochs=5)
    evaluation.spent, evaluation.last_cost = 50.0, 10.0
    assert not evaluation.due(3)
    assert evaluation.due(4)


def test_skipped_epochs_add_nothing_to_the_logs(clock, tmp_path):
    evaluation = _started(tmp_path, epochs=5)
    evaluation.spent, evaluation.last_cost = 50.0, 10.0
    logs = {"loss": 1.0}
    evaluation.on_epoch_end(0, logs)
    assert logs == {"loss": 1.0} and evaluation.evaluations == 0


def test_training_and_evaluate_score_the_discrete_code_alike(tmp_path):
    # More categories than classes: `evaluate` maps by majority; the training log must too.
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (12,)), hidden_units=32), train=TrainConfig(batch_size=8))
    model = build_model(run)
    rng = np.random.default_rng(0)
    images = (rng.random((64, 32, 32, 1)) * 255).astype(np.uint8)
    labels = rng.integers(0, 4, 64)
    evaluation = HeldOutEvaluation(images.astype("float32") / 255.0, labels, str(tmp_path))
    evaluation.set_model(model)
    logged = evaluation.evaluate(0)["val_cluster_accuracy"]
    info = data.dataset_info("four_shapes")
    report = evaluate_model(model, data.Examples(images, labels, None), info, class_change_examples=0)
    assert report.cluster_mapping == "majority"
    assert logged == pytest.approx(report.cluster_accuracy)
