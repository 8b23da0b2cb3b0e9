"""Images from the prior and along continuous dims, one stateless seed per image.

These TensorFlow functions are the single implementation behind the export's ``sample`` / ``traverse``
signatures (see :mod:`jointvae_tf.serving.export`) and :meth:`JointVAE.sample` / :meth:`JointVAE.traverse`.

A sample has one row per image: ``seeds`` int64 ``[N]`` and ``categories`` int32 ``[N, n_disc]`` (``-1`` =
draw that discrete variable at random). Row ``n``'s latent depends on its own seed and categories only,
never on ``N`` or on other rows, so a server that batches requests together returns the same images, and
image ``k`` of seed ``S`` is image 0 of seed ``S+k``. A row with an out-of-range input is answered with a
``row_error`` message (see :func:`row_checks`), never by failing the whole batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from jointvae_tf.core import latents
from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import ConfigError

RANDOM_CATEGORY = -1
SAMPLE_OUTPUTS = ("images", "z", "c", "categories", "png_bytes", "row_error")
"""Outputs of :func:`sample`. String outputs whose name ends in ``_bytes`` are the ones TF-Serving's REST API
base64-encodes (``{"b64": ...}``); ``row_error`` is plain text and comes back as a JSON string."""


def category_of_class(name: str, category_classes: Sequence[Sequence[str]],
                      category_purity: Sequence[Sequence[float]]) -> list[int]:
    """The ``category`` row that asks for class ``name``: per discrete variable, the purest of its categories
    holding that class, or -1 (random) where none does.

    Args:
      name: a class name of the training data, e.g. ``"star"``.
      category_classes: per discrete variable, the class each category holds (``""``: none), as an
        export records it (``ExportConfig.category_classes``).
      category_purity: per discrete variable, the share of that class among the category's images.

    Raises ConfigError (``category``) when no category holds ``name``.
    """
    row = []
    for classes, purity in zip(category_classes, category_purity):
        held = [k for k, held_class in enumerate(classes) if held_class == name]
        row.append(max(held, key=lambda k: purity[k]) if held else RANDOM_CATEGORY)
    if all(category == RANDOM_CATEGORY for category in row):
        known = sorted({c for classes in category_classes for c in classes if c})
        held = f"the categories hold {', '.join(known)}" if known else \
            "the model knows no class names (its training data had no labels, or it is not an export)"
        raise ConfigError("category", f"no category holds class {name!r}; {held}")
    return row


def row_checks(checks: Sequence[tuple[tf.Tensor, str]]) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-row validity without failing the batch: ``(ok bool [N], row_error string [N])``.

    ``checks``: ``(passed bool [N], message)`` pairs; a row's ``row_error`` is the message of its first
    failed check, ``""`` when all pass. TF-Serving merges concurrent requests into one batch and fails
    them all when the graph raises (batching/batching_session.cc, ProcessBatch), so the signatures answer
    a bad row with a message and a blank image instead of an in-graph Assert.
    """
    row_error = tf.fill(tf.shape(checks[0][0]), "")
    for passed, message in reversed(checks):
        row_error = tf.where(passed, row_error, message)
    return tf.equal(row_error, ""), row_error


def check_categories(categories: tf.Tensor, spec: LatentSpec, allow_random: bool) -> tuple[tf.Tensor, str]:
    """``(passed bool [N], message)``: every column ``i`` of ``categories`` int32 ``[N, n_disc]`` lies in
    ``0 .. K_i - 1`` (or is ``-1`` when ``allow_random``)."""
    low = RANDOM_CATEGORY if allow_random else 0
    limits = tf.constant(spec.disc, tf.int32, shape=[len(spec.disc)])
    passed = tf.reduce_all((categories >= low) & (categories < limits), axis=-1)
    return passed, f"category: expected column i in {low} .. K_i - 1 for the counts K = {list(spec.disc)}"


def prior_latents(spec: LatentSpec, seeds: tf.Tensor, categories: tf.Tensor) -> dict[str, tf.Tensor]:
    """Latents from the prior: z ~ N(0, I), each c_i ~ Uniform(K_i) unless fixed by ``categories``.

    Args:
      spec: the latent space.
      seeds: int64 ``[N]``; row ``n`` draws z with the stateless key ``(seeds[n], 0)`` and its random
        categories with ``(seeds[n], 1)``.
      categories: int32 ``[N, n_disc]``, ``-1`` (random) or a category per discrete variable (in range:
        see :func:`check_categories`).

    Returns:
      ``{"latent": [N, spec.size], "z": [N, cont], "c": [N, sum(disc)] one-hot, "categories": int32
      [N, n_disc] (the categories used)}``.
    """
    n_disc = len(spec.disc)

    def row_noise(seed):
        normal = tf.random.stateless_normal([spec.cont], seed=tf.stack([seed, 0]))
        uniform = tf.random.stateless_uniform([n_disc], seed=tf.stack([seed, 1]))
        return normal, uniform

    z, uniform = tf.map_fn(row_noise, seeds, fn_output_signature=(tf.float32, tf.float32))
    counts = tf.constant(spec.disc, tf.float32, shape=[n_disc])
    drawn = tf.minimum(tf.cast(tf.floor(uniform * counts), tf.int32), tf.cast(counts, tf.int32) - 1)
    categories = tf.where(categories == RANDOM_CATEGORY, drawn, categories)
    latent = latents.compose(spec, z, categories)
    return {"latent": latent, "z": z, "c": latent[:, spec.cont:], "categories": categories}


def traversal_latents(spec: LatentSpec, dims: tf.Tensor, categories: tf.Tensor, values: np.ndarray) -> tf.Tensor:
    """One traversal per row: continuous dim ``dims[n]`` sweeps ``values``, every other dim stays at 0.

    Args:
      dims: int32 ``[N]``, each in ``0 .. cont - 1``.
      categories: int32 ``[N, n_disc]``, each in ``0 .. K_i - 1``, held fixed along the row.
      values: float ``[steps]``, e.g. ``latents.prior_quantiles(steps)``.

    Returns:
      ``[N * steps, spec.size]``, row-major (traversal ``n`` is rows ``n * steps .. n * steps + steps - 1``).
    """
    steps = len(values)
    sweep = tf.one_hot(dims, spec.cont)[:, None, :] * tf.constant(values, tf.float32)[None, :, None]
    return latents.compose(spec, tf.reshape(sweep, [-1, spec.cont]), tf.repeat(categories, steps, axis=0))


def encode_png(images: tf.Tensor) -> tf.Tensor:
    """PNG files (string ``[...]``) of images float ``[..., H, W, C]`` in [0, 1], pixels as ``pixels.to_uint8``."""
    pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
    flat = tf.reshape(pixels, tf.concat([[-1], tf.shape(pixels)[-3:]], axis=0))
    files = tf.map_fn(tf.io.encode_png, flat, fn_output_signature=tf.string)
    return tf.reshape(files, tf.shape(pixels)[:-3])


def sample(decode: Callable[[tf.Tensor], tf.Tensor], spec: LatentSpec, seeds: tf.Tensor,
           categories: tf.Tensor) -> dict[str, tf.Tensor]:
    """Images from the prior: the outputs of the ``sample`` signature.

    Args:
      decode: latents ``[N, spec.size]`` -> images float ``[N, H, W, C]`` in [0, 1] (``JointVAE.decode``).
      seeds, categories: as :func:`prior_latents`; a row whose categories are out of range is refused.

    Returns:
      ``{"images": [N, H, W, C], "z", "c", "categories" (as prior_latents), "png_bytes": string [N],
      "row_error": string [N]}``; a refused row has a ``row_error`` message and a blank (zero) image.
    """
    ok, row_error = row_checks([check_categories(categories, spec, allow_random=True)])
    drawn = prior_latents(spec, seeds, tf.where(ok[:, None], categories, RANDOM_CATEGORY))
    images = _blank_refused(decode(drawn.pop("latent")), ok)
    return {"images": images, **drawn, "png_bytes": encode_png(images), "row_error": row_error}


def traverse(decode: Callable[[tf.Tensor], tf.Tensor], spec: LatentSpec, dims: tf.Tensor, categories: tf.Tensor,
             values: np.ndarray) -> dict[str, tf.Tensor]:
    """Traversal pictures: ``{"images": [N, steps, H, W, C], "png_bytes": string [N, steps], "row_error":
    string [N]}`` (see traversal_latents); a row with ``dims`` or ``categories`` out of range is refused."""
    ok, row_error = row_checks([check_categories(categories, spec, allow_random=False),
                                ((dims >= 0) & (dims < spec.cont), f"dim: expected 0 .. {spec.cont - 1}")])
    images = decode(traversal_latents(spec, tf.where(ok, dims, 0), tf.where(ok[:, None], categories, 0), values))
    images = _blank_refused(tf.reshape(images, tf.concat([[-1, len(values)], tf.shape(images)[1:]], axis=0)), ok)
    return {"images": images, "png_bytes": encode_png(images), "row_error": row_error}


def _blank_refused(images: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    """``images`` ``[N, ...]`` with the rows where ``ok`` bool ``[N]`` is false set to 0."""
    mask = tf.reshape(ok, tf.concat([tf.shape(ok), tf.ones([tf.rank(images) - 1], tf.int32)], axis=0))
    return tf.where(mask, images, tf.zeros_like(images))
