"""The prior that `sample` draws from (the export's signature and `jvae-tf sample --run` share it)."""

import numpy as np
import pytest

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.core.sampling import ModelSampler
from jointvae_tf.training.trainer import build_model

N = 4000


@pytest.fixture(scope="module")
def sampler():
    return ModelSampler(build_model(RunConfig(model=ModelConfig(latent=LatentSpec(3, (4, 2)), hidden_units=32))))


def test_z_is_standard_normal_over_many_seeds(sampler):
    z = sampler.sample(N, seed=123)["z"]
    assert z.shape == (N, 3)
    # Standard errors: 1 / sqrt(N) = 0.016 for a mean, 1 / sqrt(2 N) = 0.011 for a standard deviation.
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.07)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.05)
    assert np.abs(np.corrcoef(z.T) - np.eye(3)).max() < 0.07
    assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.05, abs=0.015)  # the tails of N(0, 1), not of a uniform


def test_random_categories_are_uniform_and_c_is_their_one_hot(sampler):
    out = sampler.sample(N, seed=7)
    categories = out["categories"]
    for column, k in enumerate((4, 2)):
        counts = np.bincount(categories[:, column], minlength=k)
        assert len(counts) == k and np.all(np.abs(counts - N / k) < 5 * np.sqrt(N / k))
    np.testing.assert_array_equal(out["c"][:, :4].argmax(axis=1), categories[:, 0])
    np.testing.assert_array_equal(out["c"][:, 4:].argmax(axis=1), categories[:, 1])
    assert set(np.unique(out["c"])) == {0.0, 1.0}


def test_a_fixed_category_is_kept_and_the_other_drawn(sampler):
    categories = sampler.sample(400, seed=1, category=[3])["categories"]
    assert np.all(categories[:, 0] == 3) and set(categories[:, 1]) == {0, 1}


def test_image_k_of_seed_s_is_image_0_of_seed_s_plus_k(sampler):
    many, one = sampler.sample(5, seed=10), sampler.sample(1, seed=13)
    np.testing.assert_array_equal(many["z"][3], one["z"][0])
    # Same latent (bit for bit), decoded in batches of other sizes: equal to float precision.
    np.testing.assert_allclose(many["images"][3], one["images"][0], atol=1e-6)
    assert not np.array_equal(many["z"][0], many["z"][1])
