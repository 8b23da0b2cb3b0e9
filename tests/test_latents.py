"""The KL terms equal their closed forms / TFP's kl_divergence; samples have the right layout."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from jointvae_tf.core import latents
from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError

tfd = tfp.distributions


def test_kl_normal_matches_tfp():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(8, 5)).astype("float32")
    log_var = rng.normal(size=(8, 5)).astype("float32")
    expected = tfd.kl_divergence(tfd.Normal(mean, np.exp(0.5 * log_var)), tfd.Normal(0.0, 1.0))
    np.testing.assert_allclose(latents.kl_normal(mean, log_var), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_kl_categorical_uniform_matches_tfp(k):
    logits = np.random.default_rng(k).normal(size=(16, k)).astype("float32") * 3
    expected = tfd.kl_divergence(tfd.Categorical(logits=logits), tfd.Categorical(logits=np.zeros(k, "float32")))
    np.testing.assert_allclose(latents.kl_categorical_uniform(logits), expected, rtol=1e-5, atol=1e-6)


def test_kl_categorical_is_zero_for_uniform_and_log_k_for_one_hot():
    np.testing.assert_allclose(latents.kl_categorical_uniform(tf.zeros([1, 4])), [0.0], atol=1e-6)
    np.testing.assert_allclose(latents.kl_categorical_uniform(tf.constant([[50.0, 0, 0, 0]])), [np.log(4)], rtol=1e-5)


def test_split_and_sample_layout():
    spec = LatentSpec(cont=3, disc=(4, 2))
    flat = tf.random.normal([5, 2 * 3 + 6])
    encoding = latents.split_encoding(flat, spec)
    assert encoding.mean.shape == (5, 3) and encoding.log_var.shape == (5, 3)
    assert [lg.shape[-1] for lg in encoding.logits] == [4, 2]
    sample = latents.sample_latent(encoding, 0.67, tf.constant([1, 2]))
    assert sample.shape == (5, spec.size)
    np.testing.assert_allclose(tf.reduce_sum(sample[:, 3:7], -1), np.ones(5), rtol=1e-5)
    mode = latents.mode_latent(encoding).numpy()
    np.testing.assert_array_equal(mode[:, :3], encoding.mean.numpy())
    assert set(np.unique(mode[:, 3:])) <= {0.0, 1.0} and (mode[:, 3:7].sum(-1) == 1).all()


def test_sampling_is_deterministic_for_a_seed():
    encoding = latents.split_encoding(tf.random.normal([4, 2 * 2 + 3]), LatentSpec(2, (3,)))
    a = latents.sample_latent(encoding, 0.5, tf.constant([7, 0]))
    b = latents.sample_latent(encoding, 0.5, tf.constant([7, 0]))
    c = latents.sample_latent(encoding, 0.5, tf.constant([8, 0]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cont,disc", [(-1, (10,)), (0, ()), (2, (1,))])
def test_latent_spec_rejects_bad_values(cont, disc):
    with pytest.raises(JointVAEError):
        LatentSpec(cont, disc)


def test_max_disc_capacity_is_sum_of_log_k():
    assert LatentSpec(2, (10, 3)).max_disc_capacity == pytest.approx(np.log(10) + np.log(3))


def test_marginal_kl_is_zero_when_categories_are_used_equally_and_log_k_when_one_is():
    confident = tf.constant([[20.0, 0, 0], [0, 20.0, 0], [0, 0, 20.0]])
    np.testing.assert_allclose(latents.kl_marginal_uniform(confident), 0.0, atol=1e-5)
    collapsed = tf.constant([[20.0, 0, 0]] * 3)
    np.testing.assert_allclose(latents.kl_marginal_uniform(collapsed), np.log(3), rtol=1e-4)
    # The per-image KL cannot tell the two apart: both are confident.
    np.testing.assert_allclose(latents.kl_categorical_uniform(confident), latents.kl_categorical_uniform(collapsed))


def test_reparameterised_z_has_the_encoder_mean_and_variance():
    n = 20000
    encoding = latents.Encoding(tf.fill([n, 2], 2.0), tf.fill([n, 2], float(np.log(0.25))), [tf.zeros([n, 3])])
    z = latents.sample_latent(encoding, 0.67, tf.constant([3, 4])).numpy()[:, :2]
    np.testing.assert_allclose(z.mean(axis=0), 2.0, atol=0.03)  # standard error 0.5 / sqrt(n) = 0.0035
    np.testing.assert_allclose(z.std(axis=0), 0.5, atol=0.02)
    assert np.mean(np.abs(z - 2.0) > 1.96 * 0.5) == pytest.approx(0.05, abs=0.01)  # Gaussian tails


def test_the_noise_of_z_and_the_noise_of_c_are_independent():
    # q(z, c | x) = q(z | x) q(c | x): with as many continuous dimensions as categories (10 and 10, as for
    # MNIST), the j-th dimension of z and the j-th entry of c must not be drawn from one seed.
    n, k = 20000, 10
    encoding = latents.Encoding(tf.zeros([n, k]), tf.zeros([n, k]), [tf.zeros([n, k])])
    sample = latents.sample_latent(encoding, 0.67, tf.constant([3, 4])).numpy()
    z, c = sample[:, :k], sample[:, k:]
    assert abs(np.corrcoef(z.ravel(), c.ravel())[0, 1]) < 0.02  # standard error 1 / sqrt(n * k) = 0.0022


def test_mode_latent_is_the_mean_and_the_one_hot_argmax_whatever_the_batch_size():
    logits = [tf.constant([[0.0, 3.0, 1.0, 0.0]] * 2), tf.constant([[2.0, -1.0]] * 2)]
    mode = latents.mode_latent(latents.Encoding(tf.ones([2, 1]), tf.zeros([2, 1]), logits)).numpy()
    np.testing.assert_array_equal(mode, [[1, 0, 1, 0, 0, 1, 0]] * 2)


def test_one_hot_codes_concatenate_each_variable():
    codes = latents.one_hot_codes(tf.constant([[2, 0], [0, 1], [1, 1]]), LatentSpec(1, (3, 2))).numpy()
    np.testing.assert_array_equal(codes, [[0, 0, 1, 1, 0], [1, 0, 0, 0, 1], [0, 1, 0, 0, 1]])
    assert latents.one_hot_codes(tf.zeros([4, 0], tf.int32), LatentSpec(2, ())).shape == (4, 0)


def test_marginal_kl_counts_categories_not_examples_and_survives_empty_categories():
    used_equally = tf.constant([[20.0, 0, 0], [0, 20.0, 0], [0, 0, 20.0]] * 2)  # batch 6, K = 3
    np.testing.assert_allclose(latents.kl_marginal_uniform(used_equally), 0.0, atol=1e-5)
    never_used = tf.constant([[200.0, 0, 0]] * 6)  # the other categories' probabilities underflow to 0
    np.testing.assert_allclose(latents.kl_marginal_uniform(never_used), np.log(3), rtol=1e-5)


def test_compose_puts_z_first_then_each_one_hot_code_as_float32():
    z = np.array([[0.5, -1.25], [2.0, 0.0]])  # float64, as numpy gives them
    latent = latents.compose(LatentSpec(2, (3, 2)), z, np.array([[2, 1], [0, 0]])).numpy()
    assert latent.dtype == np.float32
    np.testing.assert_array_equal(latent, [[0.5, -1.25, 0, 0, 1, 0, 1], [2.0, 0.0, 1, 0, 0, 1, 0]])
    np.testing.assert_array_equal(latents.compose(LatentSpec(2, ()), z, np.zeros([2, 0], np.int32)), z)
