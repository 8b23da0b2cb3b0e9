"""Specifications of the clustering and disentanglement metrics."""

import itertools

import numpy as np
import pytest

from jointvae_tf.errors import JointVAEError
from jointvae_tf.metrics import (active_dimensions, class_change_fraction, classes_with_own_category,
                                 cluster_accuracy, contingency, factor_vae_score, hungarian,
                                 mutual_info_gap, normalized_mutual_info, order_by_kl)


def brute_force_min_cost(cost):
    n, m = cost.shape
    if n <= m:
        return min(cost[np.arange(n), list(p)].sum() for p in itertools.permutations(range(m), n))
    return min(cost[list(p), np.arange(m)].sum() for p in itertools.permutations(range(n), m))


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 4), (1, 3)])
def test_hungarian_equals_brute_force(shape):
    rng = np.random.default_rng(0)
    for _ in range(20):
        cost = rng.normal(size=shape)
        rows, cols = hungarian(cost)
        assert len(rows) == len(set(rows)) == len(set(cols)) == min(shape)
        assert np.all(np.diff(rows) > 0)
        assert cost[rows, cols].sum() == pytest.approx(brute_force_min_cost(cost))


def test_hungarian_rejects_non_finite_costs():
    with pytest.raises(JointVAEError):
        hungarian([[0.0, np.inf], [1.0, 2.0]])


def test_contingency_counts_class_cluster_pairs():
    table = contingency([0, 0, 1, 2, 2], [1, 1, 0, 0, 2], n_clusters=4)
    np.testing.assert_array_equal(table, [[0, 2, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0]])


@pytest.mark.parametrize("mapping", ["one_to_one", "majority", "auto"])
def test_permuted_perfect_clustering_scores_one(mapping):
    labels = np.random.default_rng(1).integers(0, 10, size=500)
    permutation = np.random.default_rng(2).permutation(10)
    assert cluster_accuracy(labels, permutation[labels], mapping) == 1.0
    assert normalized_mutual_info(labels, permutation[labels]) == pytest.approx(1.0)


def test_cluster_accuracy_of_a_hand_computed_table():
    # classes x clusters: [[5, 1], [4, 0]]. One-to-one: class 0 -> cluster 1 (1), class 1 -> cluster 0 (4)
    # gives 5/10; majority sends both clusters to class 0: (5 + 1) / 10.
    labels = np.array([0] * 6 + [1] * 4)
    clusters = np.array([0] * 5 + [1] + [0] * 4)
    assert cluster_accuracy(labels, clusters, "one_to_one") == pytest.approx(0.5)
    assert cluster_accuracy(labels, clusters, "majority") == pytest.approx(0.6)


def test_auto_uses_majority_when_there_are_more_clusters_than_classes():
    labels = np.array([0, 0, 0, 1, 1, 1])
    clusters = np.array([0, 1, 2, 3, 3, 3])  # class 0 split over three clusters
    assert cluster_accuracy(labels, clusters) == cluster_accuracy(labels, clusters, "majority") == 1.0
    assert cluster_accuracy(labels, clusters, "one_to_one") == pytest.approx(4 / 6)


def test_auto_decides_on_the_number_of_categories_when_given():
    labels, clusters = np.array([0, 0, 0, 0, 1]), np.array([0, 0, 1, 1, 1])  # table [[2, 2], [0, 1]]
    assert cluster_accuracy(labels, clusters) == pytest.approx(3 / 5)
    assert cluster_accuracy(labels, clusters, n_clusters=20) == pytest.approx(4 / 5)


def test_nmi_of_independent_labelings_is_near_zero():
    rng = np.random.default_rng(3)
    assert normalized_mutual_info(rng.integers(0, 10, 20000), rng.integers(0, 10, 20000)) < 0.01


def test_classes_with_own_category_counts_majority_classes():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([0, 0, 0, 1, 1, 2, 2])  # cluster 0 -> 0, cluster 1 -> tie 1/2 -> 1, cluster 2 -> 2
    assert classes_with_own_category(labels, clusters) == 3
    assert classes_with_own_category(labels, np.zeros(7, dtype=int)) == 1


def test_clustering_metrics_reject_bad_input():
    with pytest.raises(JointVAEError):
        cluster_accuracy([0, 1], [0])
    with pytest.raises(JointVAEError):
        cluster_accuracy([0, 1], [0.5, 1.0])
    with pytest.raises(JointVAEError):
        cluster_accuracy([0, 1], [0, 1], mapping="best")


@pytest.fixture(scope="module")
def factors():
    """4000 examples of three discrete factors and one continuous one."""
    rng = np.random.default_rng(4)
    return np.column_stack([rng.integers(0, 3, 4000), rng.integers(0, 6, 4000), rng.integers(0, 4, 4000),
                            rng.uniform(size=4000)]).astype(float)


def copying_codes(factors, noise_dims=3):
    """A code that holds each factor in its own dimension, shuffled, plus unrelated noise dimensions."""
    rng = np.random.default_rng(5)
    codes = np.column_stack([factors + 1e-4 * rng.normal(size=factors.shape),
                             rng.normal(size=(len(factors), noise_dims))])
    return codes[:, rng.permutation(codes.shape[1])]


def test_mig_of_copied_factors_is_one_and_of_noise_is_zero(factors):
    assert mutual_info_gap(copying_codes(factors), factors) > 0.95
    assert mutual_info_gap(np.random.default_rng(6).normal(size=(4000, 7)), factors) < 0.05


def test_factor_vae_score_of_copied_factors_is_one_and_of_noise_is_chance(factors):
    assert factor_vae_score(copying_codes(factors), factors) > 0.97
    noise = np.random.default_rng(7).normal(size=(4000, 7))
    assert factor_vae_score(noise, factors) < 0.25 + 0.15


def test_factor_vae_score_ignores_collapsed_dimensions(factors):
    codes = np.column_stack([copying_codes(factors), np.zeros(4000), 1e-3 * np.ones(4000)])
    assert factor_vae_score(codes, factors) > 0.97


def test_class_change_fraction_counts_steps_with_another_class():
    assert class_change_fraction([1, 2], [[1, 1, 3, 1], [2, 0, 0, 2]]) == pytest.approx(3 / 8)
    with pytest.raises(JointVAEError):
        class_change_fraction([1, 2], [[1, 1]])


def test_active_dimensions_and_order_by_kl():
    kl = np.array([0.001, 2.5, 0.3, 0.0, 2.5])
    np.testing.assert_array_equal(active_dimensions(kl), [False, True, True, False, True])
    np.testing.assert_array_equal(order_by_kl(kl), [1, 4, 2, 0, 3])
