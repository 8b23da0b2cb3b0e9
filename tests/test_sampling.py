"""The prior that `sample` draws from (the export's signature, `jvae-tf sample` and `JointVAE.sample` share it)."""

import numpy as np
import pytest
from serving_stubs import make_run

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError
from jointvae_tf.serving.predictor import sample
from jointvae_tf.serving.sources import open_predictor

N = 4000


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return open_predictor(make_run(str(tmp_path_factory.mktemp("run")), LatentSpec(3, (4, 2))))


def test_z_is_standard_normal_over_many_seeds(predictor):
    z = sample(predictor, N, seed=123)["z"]
    assert z.shape == (N, 3)
    # Standard errors: 1 / sqrt(N) = 0.016 for a mean, 1 / sqrt(2 N) = 0.011 for a standard deviation.
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.07)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.05)
    assert np.abs(np.corrcoef(z.T) - np.eye(3)).max() < 0.07
    assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.05, abs=0.015)  # the tails of N(0, 1), not of a uniform


def test_random_categories_are_uniform_and_c_is_their_one_hot(predictor):
    out = sample(predictor, N, seed=7)
    categories = out["categories"]
    for column, k in enumerate((4, 2)):
        counts = np.bincount(categories[:, column], minlength=k)
        assert len(counts) == k and np.all(np.abs(counts - N / k) < 5 * np.sqrt(N / k))
    np.testing.assert_array_equal(out["c"][:, :4].argmax(axis=1), categories[:, 0])
    np.testing.assert_array_equal(out["c"][:, 4:].argmax(axis=1), categories[:, 1])
    assert set(np.unique(out["c"])) == {0.0, 1.0}


def test_a_fixed_category_is_kept_and_the_other_drawn(predictor):
    categories = sample(predictor, 400, seed=1, category=[3])["categories"]
    assert np.all(categories[:, 0] == 3) and set(categories[:, 1]) == {0, 1}


def test_image_k_of_seed_s_is_image_0_of_seed_s_plus_k(predictor):
    many, one = sample(predictor, 5, seed=10), sample(predictor, 1, seed=13)
    np.testing.assert_array_equal(many["z"][3], one["z"][0])
    # Same latent (bit for bit), decoded in batches of other sizes: equal to float precision.
    np.testing.assert_allclose(many["images"][3], one["images"][0], atol=1e-6)
    assert not np.array_equal(many["z"][0], many["z"][1])


def test_requests_out_of_range_are_refused_in_the_arguments_terms(predictor):
    with pytest.raises(JointVAEError, match=r"^n: expected an integer >= 1, got 0$"):
        sample(predictor, 0)
    with pytest.raises(JointVAEError, match=r"category: expected up to 2 values .*count \[4, 2\], got \[0, 2\]"):
        sample(predictor, 1, category=[0, 2])
    with pytest.raises(JointVAEError, match=r"seed: expected seed \.\. seed \+ n - 1 within int64"):
        sample(predictor, 2, seed=2 ** 63 - 1)
