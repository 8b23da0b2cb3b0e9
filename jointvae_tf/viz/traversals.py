"""Latent vectors for pictures: traversals, per-category samples and GIF frames, as numpy arrays.

They are put together by :func:`jointvae_tf.core.latents.compose` and drawn from the prior by
:func:`jointvae_tf.core.sampling.prior_latents`, as the exported signatures do.

Every builder returns latents laid out as :class:`~jointvae_tf.core.config.LatentSpec` describes,
``[z (cont), one-hot c_1 (disc[0]), c_2, ...]``, one row of the picture after another (row-major), so
``decode(latents)`` followed by ``pictures.image_grid(images, rows, cols)`` draws the picture.

Continuous dims sweep quantiles of their N(0, 1) prior (:func:`prior_quantiles`) rather than fixed
values, as in Dupont's original: the sweep covers the prior's central 90 % whatever its width.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from jointvae_tf.core import sampling
from jointvae_tf.core.config import LatentSpec
from jointvae_tf.core.latents import QUANTILE_RANGE, compose, prior_quantile, prior_quantiles
from jointvae_tf.errors import JointVAEError


def all_traversals(spec: LatentSpec, steps: int, base_z=None, base_categories=None,
                   dim_order: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
    """One row per continuous dim, then one row per discrete variable, each sweeping that part alone.

    A continuous row ``z<d>`` sweeps dim ``d`` over :func:`prior_quantiles` with everything else at the
    base. A discrete row ``c<i>`` sweeps variable ``i``'s categories: with ``K <= steps`` categories
    ``0 .. K-1`` repeat cyclically to fill the row; with ``K > steps`` it shows ``steps`` categories
    evenly spread over ``0 .. K-1`` (use :func:`category_traversal` or ``steps >= K`` to see all).

    Args:
      spec: the latent space. steps: columns of the grid.
      base_z: ``[spec.cont]`` float, continuous values held fixed (default zeros, the prior mean).
      base_categories: ``[len(spec.disc)]`` int, categories held fixed (default all 0).
      dim_order: continuous dims to show, top to bottom (default ``0 .. cont-1``); e.g.
        ``metrics.order_by_kl(kl)`` puts uninformative dims last, a prefix of it drops them.

    Returns:
      ``(latents [rows * steps, spec.size], row_labels)`` with ``rows = len(dim_order) + len(spec.disc)``
      and labels ``"z<d>"`` / ``"c<i>"``.
    """
    z, categories = _base(spec, base_z, base_categories, steps)
    dims = _check_dims(spec, range(spec.cont) if dim_order is None else dim_order)
    rows, labels = [], []
    for d in dims:
        row_z = z.copy()
        row_z[:, d] = prior_quantiles(steps)
        rows.append(compose(spec, row_z, categories).numpy())
        labels.append(f"z{d}")
    for i, k in enumerate(spec.disc):
        row_categories = categories.copy()
        row_categories[:, i] = _category_columns(k, steps)
        rows.append(compose(spec, z, row_categories).numpy())
        labels.append(f"c{i}")
    return np.concatenate(rows, axis=0), labels


def category_traversal(spec: LatentSpec, cont_dim: int, steps: int, disc_index: int = 0, base_z=None,
                       base_categories=None) -> np.ndarray:
    """Rows are the categories of discrete variable ``disc_index``; columns sweep continuous dim ``cont_dim``.

    Shows whether a continuous dim means the same thing (e.g. stroke width) in every category.
    ``base_z`` / ``base_categories`` as in :func:`all_traversals`.

    Returns:
      ``[K * steps, spec.size]`` with ``K = spec.disc[disc_index]``.
    """
    _check_dims(spec, [cont_dim])
    k = spec.disc[_check_disc_index(spec, disc_index)]
    z, categories = _base(spec, base_z, base_categories, k * steps)
    z[:, cont_dim] = np.tile(prior_quantiles(steps), k)
    categories[:, disc_index] = np.repeat(np.arange(k), steps)
    return compose(spec, z, categories).numpy()


def samples_per_category(spec: LatentSpec, disc_index: int, n_per_category: int, seed: int = 0) -> np.ndarray:
    """Random latents, one row per category of discrete variable ``disc_index``.

    Each cell has ``z ~ N(0, I)`` and every other discrete variable uniform at random; the row fixes
    variable ``disc_index``'s category. A spec without discrete variables gives a single row
    (``disc_index`` is then ignored). Cell ``n`` (row-major) is drawn as :func:`sampling.prior_latents`
    draws seed ``seed + n``.

    Returns:
      ``[K * n_per_category, spec.size]`` with ``K = spec.disc[disc_index]`` (1 without discrete variables).
    """
    _check_positive(n_per_category, "n_per_category")
    k = spec.disc[_check_disc_index(spec, disc_index)] if spec.disc else 1
    n = k * n_per_category
    categories = np.full((n, len(spec.disc)), sampling.RANDOM_CATEGORY, np.int32)
    if spec.disc:
        categories[:, disc_index] = np.repeat(np.arange(k), n_per_category)
    return prior_samples(spec, n, seed, categories)


def prior_samples(spec: LatentSpec, n: int, seed: int = 0, categories=None) -> np.ndarray:
    """``[n, spec.size]`` latents from the prior (:func:`sampling.prior_latents`, row ``i`` with seed
    ``seed + i``, as ``jvae-tf sample`` draws them); ``categories`` int ``[n, n_disc]``, -1 = random
    (default all random)."""
    if categories is None:
        categories = np.full((n, len(spec.disc)), sampling.RANDOM_CATEGORY, np.int32)
    seeds = tf.constant(seed + np.arange(n), tf.int64)
    return sampling.prior_latents(spec, seeds, tf.constant(categories, tf.int32))["latent"].numpy()


def traversal_frames(spec: LatentSpec, cont_dim: int, n_frames: int, disc_index: int = 0,
                     n_per_category: int = 8, seed: int = 0) -> np.ndarray:
    """Frames of an animated traversal of continuous dim ``cont_dim``, for a looping GIF.

    Every frame is the same :func:`samples_per_category` grid (rows: categories of ``disc_index``;
    columns: ``n_per_category`` random samples) except dim ``cont_dim``, which follows the prior
    quantile at a probability going 0.05 -> 0.95 over the first half of the frames and back over the
    second half, so the last frame leads smoothly into the first.

    Returns:
      ``[n_frames, K * n_per_category, spec.size]``.
    """
    _check_dims(spec, [cont_dim])
    _check_positive(n_frames, "n_frames")
    grid = samples_per_category(spec, disc_index, n_per_category, seed)
    triangle = 1 - np.abs(1 - 2 * np.arange(n_frames) / n_frames)  # 0 -> 1 -> back towards 0
    low, high = QUANTILE_RANGE
    frames = np.repeat(grid[None], n_frames, axis=0)
    frames[:, :, cont_dim] = prior_quantile(low + (high - low) * triangle)[:, None]
    return frames


def _category_columns(k: int, steps: int) -> np.ndarray:
    """``[steps]`` category ids shown by a discrete row of :func:`all_traversals` (see there)."""
    if k >= steps:
        return np.round(np.linspace(0, k - 1, steps)).astype(np.int64)
    return np.arange(steps) % k


def _base(spec: LatentSpec, base_z, base_categories, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The base latent repeated ``n`` times: ``(z [n, cont] float64, categories [n, n_disc] int64)``."""
    z = np.zeros(spec.cont) if base_z is None else np.asarray(base_z, dtype=np.float64)
    categories = np.zeros(len(spec.disc), dtype=np.int64) if base_categories is None \
        else np.asarray(base_categories, dtype=np.int64)
    if z.shape != (spec.cont,):
        raise JointVAEError(f"base_z: expected {spec.cont} continuous values, got shape {z.shape}")
    if categories.shape != (len(spec.disc),) or np.any(categories < 0) or np.any(categories >= spec.disc):
        raise JointVAEError(f"base_categories: expected one category per discrete variable of sizes "
                            f"{list(spec.disc)}, got {categories.tolist()}")
    return np.tile(z, (n, 1)), np.tile(categories, (n, 1))


def _check_dims(spec: LatentSpec, dims: Sequence[int]) -> list[int]:
    dims = [int(d) for d in dims]
    if any(not 0 <= d < spec.cont for d in dims) or len(set(dims)) != len(dims):
        raise JointVAEError(f"continuous dims: expected distinct dims in 0..{spec.cont - 1} "
                            f"(the spec has {spec.cont}), got {dims}")
    return dims


def _check_disc_index(spec: LatentSpec, disc_index: int) -> int:
    if not 0 <= disc_index < len(spec.disc):
        raise JointVAEError(f"disc_index: expected 0..{len(spec.disc) - 1} (the spec has discrete variables "
                            f"{list(spec.disc)}), got {disc_index}")
    return disc_index


def _check_positive(n: int, name: str) -> None:
    if int(n) != n or n < 1:
        raise JointVAEError(f"{name}: expected an integer >= 1, got {n}")
