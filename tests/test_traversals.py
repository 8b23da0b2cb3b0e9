"""Specifications of the latent grids behind traversal pictures and GIFs."""

import numpy as np
import pytest

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError
from jointvae_tf.viz.traversals import (
    all_traversals,
    category_traversal,
    compose,
    prior_quantiles,
    samples_per_category,
    traversal_frames,
)

SPEC = LatentSpec(cont=3, disc=(4, 2))


def split(spec, latents):
    """``(z [N, cont], categories [N, n_disc])`` of latents, checking every block is a valid one-hot."""
    latents = latents.reshape(-1, spec.size)
    categories, start = [], spec.cont
    for k in spec.disc:
        block = latents[:, start:start + k]
        assert set(np.unique(block)) <= {0.0, 1.0} and np.all(block.sum(axis=1) == 1)
        categories.append(block.argmax(axis=1))
        start += k
    return latents[:, :spec.cont], np.array(categories, dtype=int).T.reshape(len(latents), len(spec.disc))


def test_prior_quantiles_are_symmetric_and_span_five_to_ninety_five_percent():
    q = prior_quantiles(7)
    np.testing.assert_allclose(q, -q[::-1], atol=1e-12)
    assert q[-1] == pytest.approx(1.6449, abs=1e-3)
    assert np.all(np.diff(q) > 0)
    assert prior_quantiles(1) == pytest.approx([0.0])


def test_compose_lays_out_z_then_one_hot_blocks():
    latents = compose(SPEC, [[0.5, -1.0, 2.0]], [[2, 1]])
    np.testing.assert_array_equal(latents, [[0.5, -1.0, 2.0, 0, 0, 1, 0, 0, 1]])
    with pytest.raises(JointVAEError):
        compose(SPEC, [[0.0, 0.0, 0.0]], [[4, 0]])


def test_all_traversals_sweep_one_part_per_row_and_hold_the_rest():
    steps = 5
    base_z, base_categories = np.array([0.3, -0.2, 0.1]), np.array([1, 0])
    latents, labels = all_traversals(SPEC, steps, base_z, base_categories, dim_order=[2, 0, 1])
    assert latents.shape == (5 * steps, SPEC.size)
    assert labels == ["z2", "z0", "z1", "c0", "c1"]
    z, categories = split(SPEC, latents)
    z, categories = z.reshape(5, steps, 3), categories.reshape(5, steps, 2)
    for row, dim in enumerate([2, 0, 1]):
        np.testing.assert_allclose(z[row, :, dim], prior_quantiles(steps), rtol=1e-6)
        np.testing.assert_allclose(np.delete(z[row], dim, axis=1), np.tile(np.delete(base_z, dim), (steps, 1)))
        assert np.all(categories[row] == base_categories)
    np.testing.assert_array_equal(categories[3, :, 0], [0, 1, 2, 3, 0])  # K=4 < 5 steps: cyclic
    np.testing.assert_array_equal(categories[4, :, 1], [0, 1, 0, 1, 0])
    assert np.all(categories[3, :, 1] == 0) and np.all(categories[4, :, 0] == 1)
    np.testing.assert_allclose(z[3:], np.broadcast_to(base_z, (2, steps, 3)))


def test_all_traversals_spread_categories_when_there_are_more_than_steps():
    latents, _ = all_traversals(LatentSpec(cont=0, disc=(10,)), steps=4)
    np.testing.assert_array_equal(split(LatentSpec(0, (10,)), latents)[1][:, 0], [0, 3, 6, 9])


@pytest.mark.parametrize("spec, rows", [(LatentSpec(cont=0, disc=(3,)), 1), (LatentSpec(cont=2, disc=()), 2)])
def test_all_traversals_of_one_sided_specs(spec, rows):
    latents, labels = all_traversals(spec, steps=4)
    assert latents.shape == (rows * 4, spec.size) and len(labels) == rows
    split(spec, latents)


def test_category_traversal_rows_are_categories_and_columns_sweep_one_dim():
    latents = category_traversal(SPEC, cont_dim=1, steps=6, disc_index=0)
    assert latents.shape == (4 * 6, SPEC.size)
    z, categories = split(SPEC, latents)
    np.testing.assert_array_equal(categories[:, 0], np.repeat(np.arange(4), 6))
    assert np.all(categories[:, 1] == 0)
    np.testing.assert_allclose(z[:, 1], np.tile(prior_quantiles(6), 4), rtol=1e-6)
    assert np.all(z[:, [0, 2]] == 0)


def test_samples_per_category_fix_one_variable_per_row():
    latents = samples_per_category(SPEC, disc_index=1, n_per_category=50, seed=0)
    assert latents.shape == (2 * 50, SPEC.size)
    z, categories = split(SPEC, latents)
    np.testing.assert_array_equal(categories[:, 1], np.repeat([0, 1], 50))
    assert set(categories[:, 0]) == {0, 1, 2, 3}
    assert abs(z.mean()) < 0.3 and 0.7 < z.std() < 1.3
    assert samples_per_category(LatentSpec(2, ()), 0, 5, seed=0).shape == (5, 2)


def test_traversal_frames_sweep_one_dim_forward_and_back():
    frames = traversal_frames(SPEC, cont_dim=2, n_frames=8, disc_index=0, n_per_category=3)
    assert frames.shape == (8, 4 * 3, SPEC.size)
    swept = frames[:, 0, 2]
    assert swept[0] == pytest.approx(-1.6449, abs=1e-3) and swept[4] == pytest.approx(1.6449, abs=1e-3)
    np.testing.assert_allclose(swept[1:4], swept[:4:-1], rtol=1e-6)  # the way back mirrors the way out
    assert np.all(frames[:, :, 2] == swept[:, None])
    assert np.all(frames[:, :, [0, 1, 3, 4, 5, 6, 7, 8]] == frames[0, :, [0, 1, 3, 4, 5, 6, 7, 8]].T)
    split(SPEC, frames)


def test_bad_dims_and_indices_name_the_input():
    with pytest.raises(JointVAEError, match="continuous dims"):
        all_traversals(SPEC, 5, dim_order=[0, 3])
    with pytest.raises(JointVAEError, match="disc_index"):
        category_traversal(SPEC, 0, 5, disc_index=2)
    with pytest.raises(JointVAEError, match="base_z"):
        all_traversals(SPEC, 5, base_z=[0.0])
    with pytest.raises(JointVAEError, match="continuous dims"):
        traversal_frames(LatentSpec(cont=0, disc=(3,)), 0, 4)
