"""Specifications of the clustering and disentanglement metrics."""

import itertools

import numpy as np
import pytest

from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation.metrics import (
    active_dimensions,
    adjusted_rand_index,
    category_classes,
    class_change_fraction,
    classes_with_own_category,
    cluster_accuracy,
    contingency,
    discretize,
    factor_vae_score,
    hungarian,
    mutual_info_gap,
    mutual_info_gaps,
    mutual_info_matrix,
    normalized_mutual_info,
    order_by_kl,
)


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


@pytest.mark.parametrize("labels,clusters,expected", [
    # sklearn's adjusted_rand_score documentation examples, and the pair counts by hand for the third:
    # pairs together in both 1, in labels 2, in clusters 1, of 6: (1 - 2/6) / (1.5 - 2/6) = 4/7.
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),
    ([0, 0, 1, 1], [0, 0, 1, 2], 4 / 7),
    ([0, 0, 1, 2], [0, 0, 1, 1], 4 / 7),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
    ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),
    ([3, 3, 3], [1, 1, 1], 1.0),
    ([7], [2], 1.0),  # one example: no pairs at all, identical partitions (sklearn says 1 too)
])
def test_adjusted_rand_index_of_hand_computed_cases(labels, clusters, expected):
    assert adjusted_rand_index(labels, clusters) == pytest.approx(expected)


def test_adjusted_rand_index_of_independent_labelings_is_near_zero():
    rng = np.random.default_rng(3)
    assert abs(adjusted_rand_index(rng.integers(0, 10, 20000), rng.integers(0, 10, 20000))) < 0.005


def test_classes_with_own_category_counts_majority_classes():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    clusters = np.array([0, 0, 0, 1, 1, 2, 2])  # cluster 0 -> 0, cluster 1 -> tie 1/2 -> 1, cluster 2 -> 2
    assert classes_with_own_category(labels, clusters) == 3
    assert classes_with_own_category(labels, np.zeros(7, dtype=int)) == 1


def test_categories_are_named_after_their_majority_class_with_its_share():
    labels = [1, 1, 0, 2, 2]
    categories = [[0, 1], [0, 1], [0, 0], [2, 0], [2, 0]]  # two discrete variables, of 3 and 2 categories
    classes, purity = category_classes(labels, categories, ("circle", "square", "star"), (3, 2))
    assert classes == (("square", "", "star"), ("star", "square"))
    assert purity == ((0.6667, 0.0, 1.0), (0.6667, 1.0))


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


# --- exact values on hand-computed cases ------------------------------------------------------------

def test_nmi_of_a_hand_computed_table():
    # classes x clusters [[2, 0], [1, 1]]: H(classes) = log 2, H(clusters) = H(3/4, 1/4),
    # I = H(clusters) - H(clusters | classes) = H(clusters) - (log 2) / 2.
    h_clusters = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    expected = (h_clusters - np.log(2) / 2) / ((np.log(2) + h_clusters) / 2)
    assert normalized_mutual_info([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(expected)
    assert normalized_mutual_info([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx(expected)  # symmetric
    assert normalized_mutual_info([0, 0, 0, 0], [0, 1, 0, 1]) == 0.0  # one class: nothing to share
    assert normalized_mutual_info([0, 0, 0], [1, 1, 1]) == 1.0  # one group each: identical labelings


def test_classes_with_own_category_ignores_empty_clusters_but_counts_single_examples():
    # cluster 1 is empty (its column is all zeros), cluster 3 holds one example of class 0.
    assert classes_with_own_category([1, 1, 2, 2], [0, 0, 2, 2]) == 2
    assert classes_with_own_category([1, 1, 2, 2, 0], [0, 0, 2, 2, 3]) == 3


def test_contingency_table_size_and_id_checks_name_the_input():
    np.testing.assert_array_equal(contingency([0, 1], [0, 0], n_classes=3, n_clusters=2), [[1, 0], [1, 0], [0, 0]])
    with pytest.raises(JointVAEError, match=r"contingency: ids exceed the table size 2 x 1"):
        contingency([0, 1], [0, 1], n_classes=2, n_clusters=1)
    with pytest.raises(JointVAEError, match=r"contingency: ids exceed the table size 1 x 2"):
        contingency([0, 1], [0, 1], n_classes=1, n_clusters=2)
    with pytest.raises(JointVAEError, match=r"^labels: expected a 1-D array of integer ids, got shape \(1, 2\)"):
        contingency([[0, 1]], [0, 1])
    with pytest.raises(JointVAEError, match=r"^clusters: expected non-negative integer ids, got dtype float64"):
        contingency([0, 1], [0.5, 1.0])
    with pytest.raises(JointVAEError, match=r"^labels: expected non-negative integer ids, got dtype int64"):
        contingency([-1, 1], [0, 1])
    with pytest.raises(JointVAEError, match=r"^expected arrays of one length \(one entry per example\), "
                                            r"got lengths \{'labels': 2, 'clusters': 1\}"):
        contingency([0, 1], [0])
    with pytest.raises(JointVAEError, match=r"^expected at least one example, got empty labels and clusters"):
        contingency([], [])
    with pytest.raises(JointVAEError, match=r"^mapping: expected one of auto, one_to_one, majority, got 'best'"):
        cluster_accuracy([0, 1], [0, 1], mapping="best")


def test_hungarian_rejects_a_cost_that_is_not_a_matrix():
    with pytest.raises(JointVAEError, match=r"hungarian: expected a finite 2-D cost matrix, got shape \(3,\)"):
        hungarian([1.0, 2.0, 3.0])
    rows, cols = hungarian(np.array([[4, 1], [2, 8]]))  # integer costs work as floats
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]


def test_discretize_ranks_few_values_and_bins_many():
    # At most `bins` distinct values: their ranks. More: equal-width bins between min and max.
    np.testing.assert_array_equal(discretize([[0.0], [10.0], [0.5]], bins=3)[:, 0], [0, 2, 1])
    column = np.arange(10.0)[:, None]  # edges 0, 1.8, 3.6, 5.4, 7.2, 9
    np.testing.assert_array_equal(discretize(column, bins=5)[:, 0], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(discretize(column, bins=2)[:, 0], [0] * 5 + [1] * 5)
    with pytest.raises(JointVAEError, match=r"^bins: expected an integer >= 2, got 1"):
        discretize(column, bins=1)
    with pytest.raises(JointVAEError, match=r"^discretize: expected \[examples, columns\], got shape \(10,\)"):
        discretize(np.arange(10.0))


def test_mig_of_a_hand_computed_code():
    factor = np.repeat(np.arange(4), 25)[:, None].astype(float)  # uniform over 4 values: H = log 4
    # z0 tells the factor (I = log 4), z1 only its half (I = log 2): gap (log 4 - log 2) / log 4 = 1/2.
    codes = np.column_stack([factor[:, 0], factor[:, 0] // 2])
    assert mutual_info_gap(codes, factor) == pytest.approx(0.5)
    assert mutual_info_gap(codes[:, :1], factor) == pytest.approx(1.0)  # one dim: the second MI is 0
    assert mutual_info_gap(np.column_stack([factor, factor, factor // 2]), factor) == pytest.approx(0.0)
    constant = np.zeros((100, 1))
    assert mutual_info_gap(codes, np.column_stack([factor, constant])) == pytest.approx(0.5)  # constant: skipped
    many = np.arange(100.0)[:, None]  # 100 distinct values: 3 bins hold 0..32, 33..65, 66..99
    assert mutual_info_gap(many, many, bins=3) == pytest.approx(1.0)  # MI and entropy binned alike
    thirds = np.digitize(many, [33, 66])
    assert mutual_info_gap(many, thirds, bins=3) == pytest.approx(1.0)
    assert mutual_info_gap(many, thirds) < 0.95  # 20 bins do not line up with the thirds
    with pytest.raises(JointVAEError, match=r"^factors: every factor is constant; MIG needs at least one that varies"):
        mutual_info_gap(codes, constant)
    with pytest.raises(JointVAEError, match=r"^expected codes \[N, D\] and factors \[N, F\], got \(100,\) and "):
        mutual_info_gap(codes[:, 0], factor)
    with pytest.raises(JointVAEError, match=r"^expected arrays of one length .*got lengths \{'codes': 100, 'factors': 99\}"):
        mutual_info_gap(codes, factor[:99])


def test_factor_vae_score_is_exactly_one_when_each_factor_has_its_own_dim():
    rng = np.random.default_rng(8)
    factors = np.column_stack([rng.integers(0, 3, 600), rng.integers(0, 5, 600)])
    codes = np.column_stack([factors[:, 1] * 2.0, rng.normal(size=600), factors[:, 0] * 0.5])
    assert factor_vae_score(codes, factors) == 1.0
    assert factor_vae_score(codes, factors, n_votes=2) == 1.0  # one vote to fit, one to score
    # Batches of two: when both examples also share the other factor, its dim ties at variance 0.
    assert factor_vae_score(codes, factors, batch_size=2) > 0.8


def test_factor_vae_score_scales_dims_before_comparing_variances():
    # Dim 0 holds factor 0 on a scale of 100 plus noise of sd 10; dim 1 holds factor 1 on a scale of 1.
    # With factor 0 fixed, dim 0 still varies more than dim 1 in absolute terms (100 against 1.25), but
    # far less relative to its spread: unscaled, dim 1 would win every vote and the score be about 1/2.
    rng = np.random.default_rng(9)
    factors = np.column_stack([rng.integers(0, 4, 2000), rng.integers(0, 4, 2000)])
    codes = np.column_stack([100.0 * factors[:, 0] + 10 * rng.normal(size=2000),
                             factors[:, 1] + 0.01 * rng.normal(size=2000)])
    assert factor_vae_score(codes, factors) > 0.97
    noise = rng.normal(size=(2000, 3))
    assert factor_vae_score(noise, factors) == factor_vae_score(noise, factors, seed=0)  # seeded, seed 0 default
    assert factor_vae_score(noise, factors, seed=1) != factor_vae_score(noise, factors, seed=2)


def test_factor_vae_score_edges():
    factors = np.repeat(np.arange(2), 50)[:, None]
    assert factor_vae_score(np.zeros((100, 2)), factors) == 0.0  # every dim collapsed
    assert factor_vae_score(np.column_stack([factors[:, 0] * 0.5, np.zeros(100)]), factors,
                            min_variance=0.0625) == 1.0  # variance exactly at the threshold counts as active
    with pytest.raises(JointVAEError, match=r"^expected n_votes >= 2 and batch_size >= 2, got 1 and 64"):
        factor_vae_score(np.ones((100, 1)), factors, n_votes=1)
    with pytest.raises(JointVAEError, match=r"^expected n_votes >= 2 and batch_size >= 2, got 800 and 1"):
        factor_vae_score(np.ones((100, 1)), factors, batch_size=1)
    with pytest.raises(JointVAEError, match=r"^factors: no factor takes two values held by two examples each"):
        factor_vae_score(np.ones((3, 1)), np.array([[0], [0], [1]]))
    with pytest.raises(JointVAEError, match=r"^expected codes \[N, D\] and factors \[N, F\], got \(100, 1\) and \(100,\)"):
        factor_vae_score(np.ones((100, 1)), factors[:, 0])
    with pytest.raises(JointVAEError, match=r"^expected arrays of one length .*got lengths \{'codes': 100, 'factors': 99\}"):
        factor_vae_score(np.ones((100, 1)), factors[:99])


def test_kl_thresholds_and_ties():
    assert active_dimensions([0.01, 0.0101], threshold=0.01).tolist() == [False, True]
    np.testing.assert_array_equal(order_by_kl(np.zeros(40)), np.arange(40))  # stable even for long ties
    with pytest.raises(JointVAEError, match=r"^expected start_classes \[M\] and traversed_classes \[M, S\], "
                                            r"got \(2,\) and \(2,\)"):
        class_change_fraction([1, 2], [1, 2])


def disentanglement_lib_mig(codes, factors, num_bins=20):
    """disentanglement_lib's ``mig._compute_mig`` transcribed (codes and factors as [N, D], not transposed):
    every code column histogram-discretised into ``num_bins`` (``np.digitize`` on the bin edges but the
    last), factors taken as the dataset's discrete ids, MI and entropy by explicit sums (its
    ``sklearn.metrics.mutual_info_score``), mean over factors of (top MI - second MI) / H(factor)."""
    discretized = np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], axis=1)

    def mutual_info(a, b):
        total = 0.0
        for x in np.unique(a):
            for y in np.unique(b):
                p_xy = np.mean((a == x) & (b == y))
                if p_xy:
                    total += p_xy * np.log(p_xy / (np.mean(a == x) * np.mean(b == y)))
        return total

    m = np.array([[mutual_info(c, f) for f in factors.T] for c in discretized.T])
    entropy = np.array([mutual_info(f, f) for f in factors.T])
    sorted_m = np.sort(m, axis=0)[::-1]
    return np.mean((sorted_m[0] - sorted_m[1]) / entropy)


def test_mig_equals_disentanglement_lib_s_formula_on_a_known_case():
    # Two uniform factors of 4 values; z0 copies f0, z1 holds f0 // 2 (log 2 of its log 4 nats), z2 copies
    # f1. Published formula: f0 gap (log 4 - log 2) / log 4 = 1/2, f1 gap log 4 / log 4 = 1; MIG 3/4.
    f0, f1 = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    factors = np.tile(np.column_stack([f0.ravel(), f1.ravel()]), (25, 1))
    codes = np.column_stack([factors[:, 0], factors[:, 0] // 2, factors[:, 1]]).astype(float)
    assert disentanglement_lib_mig(codes, factors) == pytest.approx(0.75)
    assert mutual_info_gap(codes, factors) == pytest.approx(0.75)


def test_mig_equals_disentanglement_lib_s_formula_on_continuous_codes(factors):
    # Continuous codes are binned alike; discrete factors of <= 20 values keep their ids in both.
    rng = np.random.default_rng(8)
    discrete = factors[:, :3].astype(int)
    codes = np.column_stack([discrete[:, 0] + rng.normal(scale=0.5, size=4000), rng.normal(size=4000),
                             discrete[:, 1] * discrete[:, 2] + rng.normal(size=4000)])
    assert mutual_info_gap(codes, discrete) == pytest.approx(disentanglement_lib_mig(codes, discrete), abs=1e-12)


def test_factor_vae_score_follows_disentanglement_lib_s_majority_vote():
    # Three factors, only f0 and f1 encoded (one dim each). A batch with f2 fixed has no dim of low variance:
    # its votes fall on z0 or z1, whose majority factors are f0 and f1, so every f2 vote is wrong and the
    # published accuracy is P(factor != f2) = 2/3 (binomial spread over 400 held-out votes: 0.024).
    rng = np.random.default_rng(9)
    factors = rng.integers(0, 5, size=(6000, 3))
    codes = factors[:, :2] + 1e-3 * rng.normal(size=(6000, 2))
    assert factor_vae_score(codes, factors) == pytest.approx(2 / 3, abs=0.07)


def test_auto_mapping_is_one_to_one_when_categories_do_not_outnumber_classes():
    # classes x clusters [[2, 2], [1, 0], [0, 1]]: majority sends both clusters to class 0 (4/6),
    # one-to-one can give class 0 only one of them (3/6).
    labels, clusters = np.array([0, 0, 0, 0, 1, 2]), np.array([0, 0, 1, 1, 0, 1])
    assert cluster_accuracy(labels, clusters) == cluster_accuracy(labels, clusters, "one_to_one") == 0.5
    assert cluster_accuracy(labels, clusters, "majority") == pytest.approx(4 / 6)


def test_binary_factor_and_default_bins():
    binary = np.array([0, 1] * 50, float)[:, None]  # entropy log 2 < 1 nat
    assert mutual_info_gap(binary, binary) == pytest.approx(1.0)
    ramp = np.arange(21.0)[:, None]  # 21 values: more than the default 20 bins, so binned (19 and 20 share one)
    assert discretize(ramp).max() == 19 and discretize(ramp, bins=21).max() == 20
    assert mutual_info_matrix(ramp, ramp)[0, 0] == pytest.approx(mutual_info_matrix(ramp, ramp, bins=20)[0, 0])
    assert mutual_info_matrix(ramp, ramp)[0, 0] < np.log(21) - 0.01
    squares = ramp ** 2  # binned, squares lose the order of small values
    assert mutual_info_gaps(squares, ramp)[0] == mutual_info_gaps(squares, ramp, bins=20)[0] < 0.99
    assert mutual_info_gaps(squares, ramp, bins=21)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(10)
    noise = rng.normal(size=(21 * 20, 2))
    factor = np.column_stack([np.repeat(np.arange(21.0), 20), rng.integers(0, 2, 21 * 20)])
    assert factor_vae_score(noise, factor) == factor_vae_score(noise, factor, bins=20)
    assert factor_vae_score(noise, factor, bins=21) != factor_vae_score(noise, factor, bins=20)


def test_factor_vae_votes_use_distinct_examples_and_values_held_by_two():
    # Four examples, every value held by exactly two: a batch is both examples of a value. Drawn with
    # replacement, half the batches would repeat one example and vote for dim 0 whatever the factor.
    factors = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert factor_vae_score(factors.astype(float), factors) == 1.0


def test_order_by_kl_is_stable_where_numpy_quicksort_is_not():
    order = order_by_kl(np.tile([0.0, 1.0], 20))
    np.testing.assert_array_equal(order, np.r_[np.arange(1, 40, 2), np.arange(0, 40, 2)])
