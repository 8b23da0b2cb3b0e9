"""The evaluation report: every number present, JSON-ready, scores in range, the table readable."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf import data
from jointvae_tf.core.config import (
    CapacitySchedule,
    DataConfig,
    InvarianceConfig,
    LatentSpec,
    LossConfig,
    ModelConfig,
    RunConfig,
)
from jointvae_tf.core.model import LOSS_TERMS, JointVAE
from jointvae_tf.evaluation.inference import categories_of
from jointvae_tf.evaluation.report import (
    EvaluationReport,
    class_change_per_dim,
    evaluate_model,
    format_report,
)
from jointvae_tf.training.trainer import build_model

SIZE = 32


def tiny_model(latent, **model_settings):
    return build_model(RunConfig(model=ModelConfig(image_size=SIZE, channels=1, latent=latent, hidden_units=32,
                                                   **model_settings)))


@pytest.fixture(scope="module")
def examples():
    return data.load_examples(DataConfig(name="four_shapes", max_examples=128), "test", SIZE, 1, seed=0)


def test_report_has_every_number_for_a_dataset_with_factors(examples):
    model = tiny_model(LatentSpec(3, (4,)))
    report = evaluate_model(model, examples, data.dataset_info("four_shapes"), step=100, class_change_examples=8)
    assert report.examples == len(examples)
    assert set(report.loss) == set(LOSS_TERMS)
    assert len(report.kl_cont_per_dim) == 3 and len(report.kl_disc_per_variable) == 1
    assert report.cluster_mapping == "one_to_one"
    assert report.mig is not None and report.factor_vae_score is not None
    as_json = json.loads(json.dumps(report.to_dict()))
    assert set(as_json) == {f.name for f in dataclasses.fields(EvaluationReport)}


def test_the_reported_loss_is_the_loss_training_minimises(examples):
    model = tiny_model(LatentSpec(3, (4,)), loss=LossConfig(disc_balance=2.0),
                       invariance=InvarianceConfig(rotation=180.0, weight=3.0))
    n = 32
    report = evaluate_model(model, dataclasses.replace(examples, images=examples.images[:n],
                                                       labels=examples.labels[:n], factors=None),
                            data.dataset_info("four_shapes"), step=700, seed=5, batch_size=n)
    images = tf.constant(examples.images[:n].astype(np.float32) / 255)
    trained = model.compute_terms(images, training=True, step=700, seed=tf.constant([5, 0]))
    assert trained["disc_imbalance"] > 0 and trained["disc_disagreement"] > 0 and trained["disc_capacity"] > 0
    assert report.loss == pytest.approx({name: float(value) for name, value in trained.items()}, rel=1e-4, abs=1e-6)


def quadrant_images(labels):
    """uint8 ``[N, SIZE, SIZE, 1]``: class k lights quadrant k (top-left, top-right, bottom-left, bottom-right)."""
    images = np.zeros((len(labels), SIZE, SIZE, 1), np.uint8)
    half = SIZE // 2
    for image, label in zip(images, labels):
        image[half * (label // 2):][:half, half * (label % 2):][:, :half] = 255
    return images


def perfect_clusterer(spec, permutation, mean=1.0):
    """An encoder head that puts class k (quadrant k lit) in category ``permutation[k]`` with certainty,
    with z mean ``mean`` and variance 1 in every continuous dim."""
    inverse = np.argsort(permutation)

    def encode(images):
        half = SIZE // 2
        lit = tf.stack([tf.reduce_mean(images[:, :half, :half], [1, 2, 3]), tf.reduce_mean(images[:, :half, half:], [1, 2, 3]),
                        tf.reduce_mean(images[:, half:, :half], [1, 2, 3]), tf.reduce_mean(images[:, half:, half:], [1, 2, 3])],
                       axis=1)
        n = tf.shape(images)[0]
        return tf.concat([tf.fill([n, spec.cont], mean), tf.zeros([n, spec.cont]), 50.0 * tf.gather(lit, inverse, axis=1)],
                         axis=1)
    return keras.layers.Lambda(encode)


def test_a_perfect_clusterer_scores_one_and_its_kl_terms_are_their_closed_forms():
    labels = np.random.default_rng(0).permutation(np.arange(40) % 4)
    permutation = np.array([2, 0, 3, 1])
    config = ModelConfig(image_size=SIZE, channels=1, latent=LatentSpec(3, (4,)), hidden_units=32,
                         cont_capacity=CapacitySchedule(0.0, 5.0, 100), disc_capacity=CapacitySchedule(0.0, 5.0, 100),
                         loss=LossConfig(gamma=10.0))
    model = JointVAE(config)
    model.encoder = perfect_clusterer(config.latent, permutation)  # before the model is built
    examples = data.Examples(quadrant_images(labels), labels.astype(np.int32), None)
    report = evaluate_model(model, examples, data.dataset_info("four_shapes"), step=50, batch_size=40)

    assert report.cluster_accuracy == 1.0 and report.cluster_mapping == "one_to_one"
    assert report.nmi == pytest.approx(1.0) and report.ari == pytest.approx(1.0)
    assert report.classes_with_own_category == 4
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dim; a certain category against the uniform prior: log 4.
    np.testing.assert_allclose(report.kl_cont_per_dim, [0.5] * 3, rtol=1e-6)
    np.testing.assert_allclose(report.kl_disc_per_variable, [np.log(4)], rtol=1e-6)
    assert report.active_dims == [0, 1, 2]
    # Step 50 of 0 -> 5 nats over 100 steps: C_cont = 2.5, C_disc = min(2.5, log 4) = log 4.
    assert report.loss["cont_capacity"] == pytest.approx(2.5) and report.loss["disc_capacity"] == pytest.approx(np.log(4))
    assert report.loss["kl_cont"] == pytest.approx(1.5, rel=1e-6) and report.loss["kl_disc"] == pytest.approx(np.log(4))
    assert report.loss["disc_imbalance"] == pytest.approx(0.0, abs=1e-6)  # every category holds 10 of the 40
    assert report.loss["loss"] == pytest.approx(report.loss["reconstruction"] + 10.0 * abs(1.5 - 2.5), rel=1e-5)
    images = examples.images / 255.0
    latent = np.concatenate([np.ones((40, 3)), np.eye(4)[permutation[labels]]], axis=1).astype(np.float32)
    decoded = model.decode(latent).numpy()  # the deterministic code: z = mean, c = its category
    assert report.pixel_mse == pytest.approx(np.mean((decoded - images) ** 2), rel=1e-4)


def test_more_categories_than_classes_use_majority_mapping(examples):
    report = evaluate_model(tiny_model(LatentSpec(2, (8,))), examples, data.dataset_info("four_shapes"))
    assert report.cluster_mapping == "majority"


def test_without_a_discrete_code_clustering_scores_are_absent(examples):
    report = evaluate_model(tiny_model(LatentSpec(2, ())), examples, data.dataset_info("four_shapes"))
    assert report.cluster_accuracy is None and report.nmi is None and report.ari is None
    assert report.class_change is None
    assert report.mig is not None
    assert "cluster accuracy" in format_report(report)


def test_class_change_is_a_fraction_per_traversed_dim(examples):
    model = tiny_model(LatentSpec(3, (4,)))
    images = examples.images[:6].astype(np.float32) / 255
    categories = categories_of(model, images)[:, None]
    fractions = class_change_per_dim(model, np.zeros((6, 3)), categories, dims=[0, 2], steps=5)
    assert set(fractions) == {0, 2} and all(0 <= v <= 1 for v in fractions.values())


def test_nan_becomes_null_in_json(examples):
    report = evaluate_model(tiny_model(LatentSpec(2, (4,))), examples, data.dataset_info("four_shapes"))
    report.mig = float("nan")
    assert report.to_dict()["mig"] is None


def test_table_names_each_quantity(examples):
    report = evaluate_model(tiny_model(LatentSpec(2, (4,))), examples, data.dataset_info("four_shapes"))
    table = format_report(report)
    for name in ("reconstruction", "KL z0", "KL c0", "cluster accuracy (one-to-one)", "NMI", "ARI",
                 "classes with own category", "MIG", "FactorVAE score", "class change"):
        assert name in table
