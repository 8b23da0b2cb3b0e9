"""The model's shapes, objective, training, config round-trip and checkpoint round-trip."""

import numpy as np
import pytest
import tensorflow as tf

from jointvae_tf.core.config import (
    CapacitySchedule,
    LatentSpec,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.core.model import JointVAE
from jointvae_tf.errors import JointVAEError
from jointvae_tf.run_folders.checkpoints import Checkpointer
from jointvae_tf.run_folders.folder import RunFolder, open_run
from jointvae_tf.training.trainer import build_model


def _blobs(n, size, channels, seed=0):
    """Bright squares at random places: a fixed batch a small model can learn quickly."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, channels), "float32")
    for i in range(n):
        x, y = rng.integers(0, size - 8, 2)
        images[i, y:y + 8, x:x + 8] = 1.0
    return images


@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (64, 1), (64, 3)])
def test_output_shapes(size, channels):
    config = ModelConfig(image_size=size, channels=channels, latent=LatentSpec(4, (3, 2)))
    model = JointVAE(config)
    images = tf.random.uniform([2, size, size, channels])
    assert model(images).shape == (2, size, size, channels)
    encoding = model.encode(images)
    assert encoding.mean.shape == (2, 4) and [lg.shape for lg in encoding.logits] == [(2, 3), (2, 2)]
    assert model.decode(tf.zeros([5, 4 + 5])).shape == (5, size, size, channels)


@pytest.mark.parametrize("latent", [LatentSpec(0, (4,)), LatentSpec(3, ())])
def test_only_continuous_or_only_discrete(latent):
    model = build_model(RunConfig(model=ModelConfig(latent=latent)))
    terms = model.compute_terms(tf.random.uniform([4, 32, 32, 1]), training=True)
    assert all(np.isfinite(float(v)) for v in terms.values())


def test_parameter_count_matches_the_original():
    model = JointVAE(ModelConfig(image_size=32, channels=1, latent=LatentSpec(10, (10,))))
    model.build_all()
    # The step counter is state, not a parameter.
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == 687_359
    assert model.count_params() == 687_359 + 1


def closed_form_terms(model, images):
    """KL_cont, KL_disc and the batch-marginal KL of the encoder's outputs, from the textbook formulas."""
    encoding = model.encode(images)
    mean, log_var = encoding.mean.numpy().astype(float), encoding.log_var.numpy().astype(float)
    kl_cont = np.mean(np.sum(0.5 * (mean ** 2 + np.exp(log_var) - 1 - log_var), axis=1))
    kl_disc = imbalance = 0.0
    for logits in encoding.logits:
        p = np.exp(logits.numpy().astype(float))
        p /= p.sum(axis=1, keepdims=True)
        k = p.shape[1]
        kl_disc += np.mean(np.sum(p * np.log(p * k), axis=1))  # KL(q(c|x) || 1/K)
        marginal = p.mean(axis=0)
        imbalance += np.sum(marginal * np.log(marginal * k))  # KL(mean_x q(c|x) || 1/K)
    return kl_cont, kl_disc, imbalance


def test_objective_terms_equal_their_closed_forms_on_the_encoder_outputs():
    config = ModelConfig(latent=LatentSpec(2, (3, 2)), cont_capacity=CapacitySchedule(4.0, 4.0, 1),
                         disc_capacity=CapacitySchedule(0.5, 0.5, 1), loss=LossConfig(gamma=7.0, disc_balance=3.0))
    model = build_model(RunConfig(model=config))
    head = model.encoder.get_layer("encoding")
    kernel, bias = head.get_weights()
    head.set_weights([30 * kernel, bias])  # an untrained encoder's outputs are all near 0: spread them
    images = _blobs(8, 32, 1)
    kl_cont, kl_disc, imbalance = closed_form_terms(model, images)
    assert kl_cont > 0.5 and kl_disc > 0.05 and imbalance > 0.01  # terms large enough to tell apart
    terms = {k: float(v) for k, v in model.compute_terms(images, training=False).items()}
    assert terms["kl_cont"] == pytest.approx(kl_cont, rel=1e-4)
    assert terms["kl_disc"] == pytest.approx(kl_disc, rel=1e-4)
    assert terms["disc_imbalance"] == pytest.approx(imbalance, rel=1e-3, abs=1e-6)
    assert terms["cont_capacity"] == pytest.approx(4.0) and terms["disc_capacity"] == pytest.approx(0.5)
    expected = terms["reconstruction"] + 7.0 * abs(kl_cont - 4.0) + 7.0 * abs(kl_disc - 0.5) + 3.0 * imbalance
    assert terms["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_training_steps_lower_the_loss_on_a_fixed_batch(jit):
    run = RunConfig(model=ModelConfig(latent=LatentSpec(3, (4,))),
                    train=TrainConfig(learning_rate=2e-3, jit_compile=jit, steps_per_execution=5))
    model = build_model(run)
    images = _blobs(32, 32, 1)
    dataset = tf.data.Dataset.from_tensors({"image": images}).repeat(40)
    before = float(model.evaluate(dataset.take(1), verbose=0, return_dict=True)["reconstruction"])
    model.fit(dataset, epochs=1, verbose=0)
    after = float(model.evaluate(dataset.take(1), verbose=0, return_dict=True)["reconstruction"])
    assert int(model.optimizer.iterations.numpy()) == 40
    assert after < 0.8 * before


def test_get_config_round_trip():
    model = JointVAE(ModelConfig(image_size=64, channels=3, latent=LatentSpec(2, (5, 3))), seed=4)
    clone = JointVAE.from_config(model.get_config())
    assert clone.config == model.config and clone.seed == 4


def test_run_config_json_round_trip(tmp_path):
    run = RunConfig(model=ModelConfig(latent=LatentSpec(4, (10, 2)), loss=LossConfig(kind="general", alpha=0.5)))
    run.save(str(tmp_path / "config.json"))
    assert RunConfig.load(str(tmp_path / "config.json")) == run


def test_checkpoint_round_trip_gives_identical_decoder_output(tmp_path):
    run = RunConfig(model=ModelConfig(latent=LatentSpec(3, (4,))), train=TrainConfig(learning_rate=1e-2))
    folder = RunFolder(str(tmp_path))
    run.save(folder.config)
    model = build_model(run)
    model.fit(tf.data.Dataset.from_tensors({"image": _blobs(16, 32, 1)}).repeat(3), verbose=0)
    folder.checkpointer(model).save(3)
    restored = open_run(folder.path).model
    latent = tf.random.normal([6, 3 + 4])
    np.testing.assert_array_equal(restored.decode(latent), model.decode(latent))

    resumed = build_model(run)
    assert folder.checkpointer(resumed).restore_latest() == 3
    assert int(resumed.optimizer.iterations.numpy()) == 3
    for a, b in zip(resumed.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_keeps_newest_and_ignores_partial_files(tmp_path):
    model = build_model(RunConfig())
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"), model, keep=2)
    for step in (1, 2, 3):
        checkpointer.save(step)
    (tmp_path / "checkpoints" / "ckpt-000000009.npz.tmp").write_bytes(b"half written")
    assert [s for s, _ in checkpointer.checkpoints()] == [2, 3]
    assert checkpointer.restore_latest() == 3


def test_restore_rejects_a_checkpoint_of_another_model(tmp_path):
    Checkpointer(str(tmp_path), build_model(RunConfig(model=ModelConfig(latent=LatentSpec(3, (4,)))))).save(1)
    other = build_model(RunConfig(model=ModelConfig(latent=LatentSpec(5, (4,)))))
    with pytest.raises(JointVAEError, match="does not match"):
        Checkpointer(str(tmp_path), other).restore_latest()


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_the_decoder_is_trained_on_relaxed_one_hots_at_the_configured_temperature(temperature, monkeypatch):
    """The training objective decodes c ~ RelaxedOneHot(temperature, logits) (Concrete): for two categories,
    log(c_1 / c_0) = (logit_1 - logit_0 + g_1 - g_0) / temperature with Gumbel g, whose difference is
    Logistic(0, 1): mean (logit_1 - logit_0) / temperature, standard deviation pi / (sqrt(3) temperature)."""
    model = JointVAE(ModelConfig(image_size=32, channels=1, latent=LatentSpec(1, (3,)), hidden_units=16,
                                 temperature=temperature))
    model.build_all()
    images = tf.repeat(_blobs(1, 32, 1), 4000, axis=0)  # one image: every row has the same logits
    decoded = []
    decoder = model.decoder
    monkeypatch.setattr(model, "decoder", lambda latent, training=False: decoded.append(latent) or
                        decoder(latent, training=training))
    model.compute_terms(images, training=True, step=0, seed=tf.constant([3, 4]))
    relaxed = decoded[0].numpy()[:, 1:].astype(np.float64)
    logits = model.encode(images[:1]).logits[0].numpy()[0].astype(np.float64)

    log_ratio = np.log(relaxed[:, 1]) - np.log(relaxed[:, 0])
    n = len(log_ratio)
    std = np.pi / (np.sqrt(3) * temperature)
    assert np.mean(log_ratio) == pytest.approx((logits[1] - logits[0]) / temperature, abs=5 * std / np.sqrt(n))
    # The sample standard deviation of a logistic variable is within 7 % of its own at n = 4000 (5 sigma).
    assert np.std(log_ratio) == pytest.approx(std, rel=0.07)
    np.testing.assert_allclose(relaxed.sum(axis=1), 1.0, rtol=1e-5)


def test_an_opened_run_is_ready_to_fit_and_continues_its_schedule(tmp_path):
    run = RunConfig(model=ModelConfig(latent=LatentSpec(2, (3,)), hidden_units=32,
                                      cont_capacity=CapacitySchedule(0.0, 10.0, 100)))
    model = build_model(run)
    model.training_step.assign(40)
    model.optimizer.iterations.assign(40)
    folder = RunFolder(str(tmp_path))
    run.save(folder.config)
    folder.checkpointer(model).save(40)

    opened = open_run(str(tmp_path)).model
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 1), dtype=np.uint8)
    history = opened.fit(images, batch_size=8, epochs=1, verbose=0)
    assert int(opened.training_step.numpy()) == 42 and int(opened.optimizer.iterations.numpy()) == 42
    assert history.history["cont_capacity"][0] == pytest.approx(4.05)  # steps 40 and 41, not 0 and 1
