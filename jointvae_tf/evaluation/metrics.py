"""Clustering and disentanglement metrics on numpy arrays (no model, no TensorFlow).

Clustering: how well the argmax of a discrete latent recovers the dataset's classes
(:func:`cluster_accuracy`, :func:`normalized_mutual_info`, :func:`adjusted_rand_index`,
:func:`classes_with_own_category`).
Disentanglement: how well single code dimensions capture single known factors of variation
(:func:`mutual_info_gap`, :func:`factor_vae_score`). Diagnostics of a trained latent space:
:func:`class_change_fraction`, :func:`active_dimensions`, :func:`order_by_kl`.

All information quantities are in nats. Where MIG and the FactorVAE score differ from
disentanglement_lib's: docs/reference/metrics.md.
"""

from __future__ import annotations

import numpy as np

from jointvae_tf.errors import JointVAEError

CLUSTER_MAPPINGS = ("auto", "one_to_one", "majority")


def _as_labels(values, name: str) -> np.ndarray:
    """``values`` as a 1-D array of non-negative integers, or a :class:`JointVAEError` naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise JointVAEError(f"{name}: expected a 1-D array of integer ids, got shape {array.shape}")
    if array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0):
        raise JointVAEError(f"{name}: expected non-negative integer ids, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise JointVAEError(f"expected arrays of one length (one entry per example), got lengths {lengths}")
    if not next(iter(lengths.values())):
        raise JointVAEError(f"expected at least one example, got empty {' and '.join(lengths)}")


def contingency(labels, clusters, n_classes: int | None = None, n_clusters: int | None = None) -> np.ndarray:
    """Count table ``table[i, j]`` = number of examples of class ``i`` put in cluster ``j``.

    Args:
      labels: ``[N]`` int, true class ids ``>= 0``.
      clusters: ``[N]`` int, cluster (category) ids ``>= 0``.
      n_classes, n_clusters: table size; default ``max id + 1``. Give ``n_clusters`` = the number of
        categories of the latent variable when some categories may be unused.

    Returns:
      ``[n_classes, n_clusters]`` int64 counts summing to ``N``.
    """
    labels, clusters = _as_labels(labels, "labels"), _as_labels(clusters, "clusters")
    _check_same_length(labels=labels, clusters=clusters)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    n_clusters = int(clusters.max()) + 1 if n_clusters is None else n_clusters
    if labels.max() >= n_classes or clusters.max() >= n_clusters:
        raise JointVAEError(f"contingency: ids exceed the table size {n_classes} x {n_clusters}")
    flat = np.bincount(labels * n_clusters + clusters, minlength=n_classes * n_clusters)
    return flat.reshape(n_classes, n_clusters)



def majority_classes(labels, clusters, n_classes: int, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's most frequent class and that class's share of the cluster.

    Args:
      labels, clusters, n_classes, n_clusters: as :func:`contingency`.

    Returns:
      ``(classes, purity)``: ``[n_clusters]`` int class ids (-1 for a cluster no example fell in) and
      ``[n_clusters]`` float in [0, 1] (0 for such a cluster).
    """
    table = contingency(labels, clusters, n_classes, n_clusters)
    sizes = table.sum(axis=0)
    classes = np.where(sizes > 0, table.argmax(axis=0), -1)
    return classes, table.max(axis=0, initial=0) / np.maximum(sizes, 1)


def category_classes(labels, categories, class_names, disc) -> tuple[tuple[tuple[str, ...], ...],
                                                                       tuple[tuple[float, ...], ...]]:
    """What each category holds: per discrete variable, the class of most of the examples put in each of its
    categories and that class's share of them. The one naming of categories, read by exports
    (``ExportConfig.category_classes``), pictures and the explorer; a class name asks for a category
    through :func:`jointvae_tf.core.sampling.category_of_class`.

    Args:
      labels: ``[N]`` int class ids of the examples, ids of ``class_names``.
      categories: ``[N, len(disc)]`` int, the category of each example in each discrete variable.
      class_names: the name of each class id.
      disc: category count K_i of each discrete variable.

    Returns:
      ``(classes, purity)``: per variable, ``K_i`` class names (``""`` for a category no example fell in)
      and ``K_i`` shares in [0, 1] rounded to 4 decimals.
    """
    classes, purity = [], []
    for i, k in enumerate(disc):
        held, share = majority_classes(labels, np.asarray(categories)[:, i], len(class_names), k)
        classes.append(tuple(class_names[c] if c >= 0 else "" for c in held))
        purity.append(tuple(round(float(p), 4) for p in share))
    return tuple(classes), tuple(purity)


def hungarian(cost) -> tuple[np.ndarray, np.ndarray]:
    """Minimal-cost assignment (Kuhn-Munkres with potentials, O(n^2 m) for ``n <= m``).

    Args:
      cost: ``[n, m]`` finite float matrix; rectangular is allowed.

    Returns:
      ``(rows, cols)``: two int arrays of length ``min(n, m)``, ``rows`` increasing, such that every row
      (when ``n <= m``) or every column (when ``n > m``) is matched once and ``cost[rows, cols].sum()``
      is minimal. Same contract as ``scipy.optimize.linear_sum_assignment``.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or not np.all(np.isfinite(cost)):
        raise JointVAEError(f"hungarian: expected a finite 2-D cost matrix, got shape {cost.shape}")
    if cost.shape[0] > cost.shape[1]:
        cols, rows = hungarian(cost.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    n, m = cost.shape
    # 1-based e-maxx formulation: column 0 is a virtual column holding the row being inserted.
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: 1-based row matched to column j, 0 if free
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        min_slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while owner[j0] != 0:
            used[j0] = True
            i0 = owner[j0]
            slack = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (slack < min_slack[1:])
            min_slack[1:][better] = slack[better]
            way[1:][better] = j0
            candidates = np.where(free, min_slack[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            min_slack[~used] -= delta
            j0 = j1
        while j0:
            owner[j0] = owner[way[j0]]
            j0 = way[j0]
    cols = np.flatnonzero(owner[1:])
    rows = owner[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order], cols[order]


def cluster_accuracy(labels, clusters, mapping: str = "auto", n_clusters: int | None = None) -> float:
    """Fraction of examples whose cluster maps to their class.

    Mappings from clusters to classes:
      ``one_to_one``: each cluster to a distinct class, chosen by :func:`hungarian` to maximise the
        accuracy (unmatched clusters count as wrong);
      ``majority``: each cluster to its most frequent class (several clusters may share a class);
      ``auto``: ``one_to_one`` when there are at most as many clusters as classes, else ``majority``.

    Args:
      labels: ``[N]`` int class ids. clusters: ``[N]`` int cluster ids (e.g. argmax of a categorical).
      n_clusters: number of categories of the latent variable (default ``max cluster id + 1``); it
        decides ``auto``.
    """
    if mapping not in CLUSTER_MAPPINGS:
        raise JointVAEError(f"mapping: expected one of {', '.join(CLUSTER_MAPPINGS)}, got {mapping!r}")
    table = contingency(labels, clusters, n_clusters=n_clusters)
    if mapping == "auto":
        mapping = "one_to_one" if table.shape[1] <= table.shape[0] else "majority"
    if mapping == "majority":
        correct = table.max(axis=0).sum()
    else:
        rows, cols = hungarian(-table)
        correct = table[rows, cols].sum()
    return float(correct / table.sum())


def _entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of the distribution proportional to non-negative ``counts`` (any shape)."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mutual_info(table: np.ndarray) -> float:
    """Mutual information (nats) of the joint distribution proportional to the 2-D count ``table``."""
    return max(0.0, _entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0)) - _entropy(table))


def normalized_mutual_info(labels, clusters) -> float:
    """``I(labels; clusters) / ((H(labels) + H(clusters)) / 2)`` in [0, 1] (sklearn's default, arithmetic).

    Two labelings with one group each are identical and score 1. Args: ``[N]`` int ids each.
    """
    table = contingency(labels, clusters)
    mean_entropy = (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0))) / 2
    if mean_entropy == 0:
        return 1.0
    return min(1.0, _mutual_info(table) / mean_entropy)


def _pairs(counts):
    """Number of unordered pairs ``m (m - 1) / 2`` among each of ``counts`` (float, any shape)."""
    return counts * (counts - 1) / 2


def adjusted_rand_index(labels, clusters) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two labelings, sklearn's ``adjusted_rand_score``.

    With ``n_ij`` the :func:`contingency` table, ``a_i`` and ``b_j`` its row and column sums and
    ``C(m) = m (m - 1) / 2`` the number of pairs among ``m``::

        ARI = (sum_ij C(n_ij) - E) / ((sum_i C(a_i) + sum_j C(b_j)) / 2 - E),
        E = sum_i C(a_i) * sum_j C(b_j) / C(N)

    1 for identical partitions (whatever the ids), about 0 for independent ones (it can be negative).
    Two identical trivial partitions (one group each, or every example alone) score 1, as does one example.
    Args: ``[N]`` int class ids and cluster ids.
    """
    table = contingency(labels, clusters).astype(np.float64)
    together = _pairs(table).sum()
    rows, cols = _pairs(table.sum(axis=1)).sum(), _pairs(table.sum(axis=0)).sum()
    all_pairs = _pairs(table.sum())
    expected = rows * cols / all_pairs if all_pairs else 0.0
    denominator = (rows + cols) / 2 - expected
    return 1.0 if denominator == 0 else float((together - expected) / denominator)


def classes_with_own_category(labels, clusters) -> int:
    """How many classes are the most frequent class of at least one (non-empty) cluster.

    With 10 classes and 10 categories a perfect model scores 10; a model that merges two digits into
    one category and splits another over two scores 9. Ties go to the lower class id.
    Args: ``[N]`` int class ids and cluster ids.
    """
    table = contingency(labels, clusters)
    used = table.sum(axis=0) > 0
    return int(np.unique(table.argmax(axis=0)[used]).size)


def discretize(values, bins: int = 20) -> np.ndarray:
    """Integer bin ids per column: columns with ``<= bins`` distinct values are taken as discrete.

    Args:
      values: ``[N, D]`` float.
      bins: number of equal-width histogram bins for continuous columns.

    Returns:
      ``[N, D]`` int64; a discrete column gets the rank of each value among its distinct values, a
      continuous one the index ``0..bins-1`` of its equal-width bin between the column's min and max.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise JointVAEError(f"discretize: expected [examples, columns], got shape {values.shape}")
    if bins < 2:
        raise JointVAEError(f"bins: expected an integer >= 2, got {bins}")
    out = np.empty(values.shape, dtype=np.int64)
    for d, column in enumerate(values.T):
        distinct, ids = np.unique(column, return_inverse=True)
        if distinct.size > bins:
            edges = np.histogram_bin_edges(column, bins)
            ids = np.digitize(column, edges[1:-1])
        out[:, d] = ids.ravel()
    return out


def _joint_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2-D count table of two ``[N]`` arrays of non-negative int ids."""
    width = int(b.max()) + 1
    return np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width).reshape(-1, width)


def mutual_info_matrix(codes, factors, bins: int = 20) -> np.ndarray:
    """``mi[d, k]`` = I(code dim d; factor k) in nats after :func:`discretize` of both.

    Args: codes ``[N, D]`` float (e.g. posterior means), factors ``[N, F]`` (ids or values).
    Returns: ``[D, F]`` float64.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2:
        raise JointVAEError(f"expected codes [N, D] and factors [N, F], got {codes.shape} and {factors.shape}")
    _check_same_length(codes=codes, factors=factors)
    code_ids, factor_ids = discretize(codes, bins), discretize(factors, bins)
    return np.array([[_mutual_info(_joint_counts(c, f)) for f in factor_ids.T] for c in code_ids.T])


def mutual_info_gaps(codes, factors, bins: int = 20) -> np.ndarray:
    """Per-factor normalised gap ``(I_top1 - I_top2) / H(factor)`` of :func:`mutual_info_matrix`.

    ``I_top1`` and ``I_top2`` are the largest and second largest mutual informations of factor k with a
    single code dimension (``I_top2 = 0`` with one dimension). Constant factors (zero entropy) get NaN.
    Returns: ``[F]`` float64 in [0, 1] or NaN.
    """
    mi = mutual_info_matrix(codes, factors, bins)
    top = -np.sort(-mi, axis=0)
    gap = top[0] - (top[1] if len(top) > 1 else 0.0)
    entropy = np.array([_entropy(np.bincount(f)) for f in discretize(factors, bins).T])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(entropy > 0, gap / entropy, np.nan)


def mutual_info_gap(codes, factors, bins: int = 20) -> float:
    """Mutual Information Gap (MIG, Chen et al. 2018): mean over non-constant factors of
    :func:`mutual_info_gaps`. 1 when each factor is captured by exactly one dimension, 0 for codes
    unrelated to the factors (up to the positive bias of binned estimates, about ``bins^2 / (2N)``).

    Args: codes ``[N, D]`` float, factors ``[N, F]``; ``bins`` as in :func:`discretize`.
    """
    gaps = mutual_info_gaps(codes, factors, bins)
    if np.all(np.isnan(gaps)):
        raise JointVAEError("factors: every factor is constant; MIG needs at least one that varies")
    return float(np.nanmean(gaps))


def factor_vae_score(codes, factors, n_votes: int = 800, batch_size: int = 64, bins: int = 20,
                     seed: int = 0, min_variance: float = 0.05) -> float:
    """FactorVAE disentanglement score (Kim & Mnih 2018), dataset variant.

    The original generates a batch with one factor fixed for each vote. Here the batch is drawn from a
    given dataset instead: for each vote pick a factor k uniformly among the non-constant ones, a value
    of that (discretised) factor uniformly among values held by at least two examples, and up to
    ``batch_size`` examples with that value (without replacement). Codes are divided by their standard
    deviation over the whole dataset; dims with global variance below ``min_variance`` are collapsed
    and ignored. The vote is ``(argmin over dims of the within-batch variance, k)``. A majority-vote
    classifier dim -> factor is fitted on the even-numbered votes and its accuracy on the odd-numbered
    ones is returned (held out, so unrelated codes score near chance, ``1 / F``).

    Args:
      codes: ``[N, D]`` float (e.g. posterior means). factors: ``[N, F]`` ids or values.
      n_votes: total votes (half to fit, half to score). batch_size: examples per vote.
      bins: discretisation of continuous factors (:func:`discretize`). seed: vote sampling.
      min_variance: global variance (in code units) below which a dim counts as collapsed.

    Returns:
      accuracy in [0, 1]; 0 when every dimension is collapsed.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or np.asarray(factors).ndim != 2:
        raise JointVAEError(f"expected codes [N, D] and factors [N, F], got {codes.shape} and {np.shape(factors)}")
    _check_same_length(codes=codes, factors=np.asarray(factors))
    if n_votes < 2 or batch_size < 2:
        raise JointVAEError(f"expected n_votes >= 2 and batch_size >= 2, got {n_votes} and {batch_size}")
    factor_ids = discretize(factors, bins)
    groups = [[np.flatnonzero(ids == value) for value in np.unique(ids)] for ids in factor_ids.T]
    groups = [[g for g in factor_groups if g.size >= 2] for factor_groups in groups]
    usable = [k for k, factor_groups in enumerate(groups) if len(factor_groups) >= 2]
    if not usable:
        raise JointVAEError("factors: no factor takes two values held by two examples each")
    variance = codes.var(axis=0)
    active = np.flatnonzero(variance >= min_variance)
    if not active.size:
        return 0.0
    normalized = codes[:, active] / np.sqrt(variance[active])
    rng = np.random.default_rng(seed)
    votes = np.zeros((2, active.size, factor_ids.shape[1]), dtype=np.int64)
    for vote in range(n_votes):
        k = usable[rng.integers(len(usable))]
        group = groups[k][rng.integers(len(groups[k]))]
        batch = rng.choice(group, size=min(batch_size, group.size), replace=False)
        votes[vote % 2, np.argmin(normalized[batch].var(axis=0)), k] += 1
    fit, held_out = votes
    predicted = fit.argmax(axis=1)
    return float(held_out[np.arange(active.size), predicted].sum() / held_out.sum())


def class_change_fraction(start_classes, traversed_classes) -> float:
    """Fraction of traversal steps whose decoded image is classified differently from its start.

    Measures whether continuous dims change the class (they should not in a disentangled JointVAE).

    Args:
      start_classes: ``[M]`` int, class of the image decoded from each start latent.
      traversed_classes: ``[M, S]`` int, class at each of ``S`` steps of the traversal from start ``m``.
    """
    start = np.asarray(start_classes)
    traversed = np.asarray(traversed_classes)
    if start.ndim != 1 or traversed.ndim != 2 or traversed.shape[0] != start.shape[0] or not traversed.size:
        raise JointVAEError(
            f"expected start_classes [M] and traversed_classes [M, S], got {start.shape} and {traversed.shape}")
    return float(np.mean(traversed != start[:, None]))


INACTIVE_KL = 0.01
"""Nats: continuous dims whose mean held-out KL is at or below this carry no information (greyed in pictures)."""


def active_dimensions(kl_per_dim, threshold: float = INACTIVE_KL) -> np.ndarray:
    """``[D]`` bool mask of dims whose mean KL to the prior (``[D]`` nats) exceeds ``threshold`` nats."""
    return np.asarray(kl_per_dim, dtype=np.float64) > threshold


def order_by_kl(kl_per_dim) -> np.ndarray:
    """``[D]`` int indices of dims sorted by KL (``[D]`` nats), largest first; ties keep index order."""
    return np.argsort(-np.asarray(kl_per_dim, dtype=np.float64), kind="stable")
