"""Images from the prior and along continuous dims, one stateless seed per image.

These TensorFlow functions are the single implementation behind the export's ``sample`` / ``traverse``
signatures (see :mod:`jointvae_tf.export`) and the local ``jvae-tf sample --run``.

A sample request has one row per image: ``seeds`` int64 ``[N]`` and ``categories`` int32
``[N, n_disc]`` (``-1`` = draw that discrete variable at random). Row ``n``'s latent depends on its own
seed and categories only, never on ``N`` or on other rows, so a server that batches requests together
returns the same images, and image ``k`` of ``--seed S`` is image 0 of ``--seed S+k``.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from jointvae_tf import latents
from jointvae_tf.config import LatentSpec
from jointvae_tf.errors import JointVAEError

RANDOM_CATEGORY = -1
SAMPLE_OUTPUTS = ("images", "z", "c", "categories", "png")


def request_rows(n: int, seed: int, category: Sequence[int], n_disc: int) -> dict[str, np.ndarray]:
    """The rows of a sample request for ``n`` images.

    Args:
      n: number of images, >= 1.
      seed: seed of the first image; image ``k`` gets ``seed + k``.
      category: one category per discrete variable, leading ones first; missing trailing entries and
        ``-1`` mean random. The model checks that each is below its category count.
      n_disc: the model's number of discrete variables.

    Returns:
      ``{"seed": int64 [n], "category": int32 [n, n_disc]}``, the ``sample`` signature's inputs.
    """
    if int(n) != n or n < 1:
        raise JointVAEError(f"--n: expected an integer >= 1, got {n}")
    category = [int(c) for c in category]
    if len(category) > n_disc or any(c < RANDOM_CATEGORY for c in category):
        raise JointVAEError(f"--category: expected up to {n_disc} values (one per discrete variable), each -1 "
                            f"(random) or a category id >= 0, got {category}")
    category += [RANDOM_CATEGORY] * (n_disc - len(category))
    return {"seed": np.arange(n, dtype=np.int64) + np.int64(seed),
            "category": np.tile(np.asarray(category, np.int32).reshape(1, n_disc), (n, 1))}


def run_sample(signature: Callable[..., dict[str, tf.Tensor]], rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call a ``sample`` function (signature or :func:`sample` closure) on ``rows``; numpy outputs.

    A category out of range (caught by the in-graph checks) becomes a JointVAEError.
    """
    try:
        outputs = signature(seed=tf.constant(rows["seed"]), category=tf.constant(rows["category"]))
    except tf.errors.InvalidArgumentError as error:
        raise JointVAEError(f"--category {rows['category'][0].tolist()}: {check_message(error.message)}") from None
    return {name: value.numpy() for name, value in outputs.items()}


class ModelSampler:
    """Samples from a model in memory (``jvae-tf sample --run``), through the same :func:`sample` as the export."""

    def __init__(self, model):
        self.spec = model.config.latent
        self._sample = tf.function(lambda seed, category: sample(model.decode, self.spec, seed, category))

    def sample(self, n: int, seed: int = 0, category: Sequence[int] = ()) -> dict[str, np.ndarray]:
        """Outputs of :func:`sample` as numpy for the request :func:`request_rows` builds."""
        return run_sample(self._sample, request_rows(n, seed, category, len(self.spec.disc)))


def check_message(message: str, limit: int = 300) -> str:
    """One line for an error text: the message of a failed in-graph check of this module (e.g.
    ``category: expected ...``) when it holds one, else the text on one line, cut at ``limit`` characters."""
    found = re.search(r"\[((?:category|dim): [^\]]*)\]", message)
    line = found.group(1) if found else " ".join(message.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def check_categories(categories: tf.Tensor, spec: LatentSpec, allow_random: bool) -> tf.Tensor:
    """``categories`` int32 ``[N, n_disc]`` after in-graph range checks (InvalidArgumentError when out of range).

    Column ``i`` must lie in ``0 .. K_i - 1``, or be ``-1`` when ``allow_random``.
    """
    low = RANDOM_CATEGORY if allow_random else 0
    limits = tf.constant(spec.disc, tf.int32, shape=[len(spec.disc)])
    checks = [tf.debugging.assert_greater_equal(categories, low, message=f"category: expected values >= {low}"),
              tf.debugging.assert_less(categories, limits,
                                       message=f"category: expected column i below the counts {list(spec.disc)}")]
    with tf.control_dependencies(checks):
        return tf.identity(categories)


def prior_latents(spec: LatentSpec, seeds: tf.Tensor, categories: tf.Tensor) -> dict[str, tf.Tensor]:
    """Latents from the prior: z ~ N(0, I), each c_i ~ Uniform(K_i) unless fixed by ``categories``.

    Args:
      spec: the latent space.
      seeds: int64 ``[N]``; row ``n`` draws z with the stateless key ``(seeds[n], 0)`` and its random
        categories with ``(seeds[n], 1)``.
      categories: int32 ``[N, n_disc]``, ``-1`` (random) or a category per discrete variable.

    Returns:
      ``{"latent": [N, spec.size], "z": [N, cont], "c": [N, sum(disc)] one-hot, "categories": int32
      [N, n_disc] (the categories used)}``.
    """
    categories = check_categories(categories, spec, allow_random=True)
    n_disc = len(spec.disc)

    def row_noise(seed):
        normal = tf.random.stateless_normal([spec.cont], seed=tf.stack([seed, 0]))
        uniform = tf.random.stateless_uniform([n_disc], seed=tf.stack([seed, 1]))
        return normal, uniform

    z, uniform = tf.map_fn(row_noise, seeds, fn_output_signature=(tf.float32, tf.float32))
    counts = tf.constant(spec.disc, tf.float32, shape=[n_disc])
    drawn = tf.minimum(tf.cast(tf.floor(uniform * counts), tf.int32), tf.cast(counts, tf.int32) - 1)
    categories = tf.where(categories == RANDOM_CATEGORY, drawn, categories)
    c = latents.one_hot_codes(categories, spec)
    return {"latent": tf.concat([z, c], axis=-1), "z": z, "c": c, "categories": categories}


def traversal_latents(spec: LatentSpec, dims: tf.Tensor, categories: tf.Tensor, values: np.ndarray) -> tf.Tensor:
    """One traversal per row: continuous dim ``dims[n]`` sweeps ``values``, every other dim stays at 0.

    Args:
      dims: int32 ``[N]``, each in ``0 .. cont - 1`` (checked in the graph).
      categories: int32 ``[N, n_disc]``, each in ``0 .. K_i - 1``, held fixed along the row.
      values: float ``[steps]``, e.g. ``traversals.prior_quantiles(steps)``.

    Returns:
      ``[N * steps, spec.size]``, row-major (traversal ``n`` is rows ``n * steps .. n * steps + steps - 1``).
    """
    categories = check_categories(categories, spec, allow_random=False)
    checks = [tf.debugging.assert_non_negative(dims, message="dim: expected >= 0"),
              tf.debugging.assert_less(dims, spec.cont, message=f"dim: expected below cont = {spec.cont}")]
    with tf.control_dependencies(checks):
        dims = tf.identity(dims)
    steps = len(values)
    sweep = tf.one_hot(dims, spec.cont)[:, None, :] * tf.constant(values, tf.float32)[None, :, None]
    codes = tf.repeat(latents.one_hot_codes(categories, spec), steps, axis=0)
    return tf.concat([tf.reshape(sweep, [-1, spec.cont]), codes], axis=-1)


def encode_png(images: tf.Tensor) -> tf.Tensor:
    """PNG files (string ``[...]``) of images float ``[..., H, W, C]`` in [0, 1], pixels as ``pictures.to_uint8``."""
    pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
    flat = tf.reshape(pixels, tf.concat([[-1], tf.shape(pixels)[-3:]], axis=0))
    files = tf.map_fn(tf.io.encode_png, flat, fn_output_signature=tf.string)
    return tf.reshape(files, tf.shape(pixels)[:-3])


def sample(decode: Callable[[tf.Tensor], tf.Tensor], spec: LatentSpec, seeds: tf.Tensor,
           categories: tf.Tensor) -> dict[str, tf.Tensor]:
    """Images from the prior: the outputs of the ``sample`` signature.

    Args:
      decode: latents ``[N, spec.size]`` -> images float ``[N, H, W, C]`` in [0, 1] (``JointVAE.decode``).
      seeds, categories: as :func:`prior_latents`.

    Returns:
      ``{"images": [N, H, W, C], "z", "c", "categories" (as prior_latents), "png": string [N]}``.
    """
    drawn = prior_latents(spec, seeds, categories)
    images = decode(drawn.pop("latent"))
    return {"images": images, **drawn, "png": encode_png(images)}


def traverse(decode: Callable[[tf.Tensor], tf.Tensor], spec: LatentSpec, dims: tf.Tensor, categories: tf.Tensor,
             values: np.ndarray) -> dict[str, tf.Tensor]:
    """Traversal pictures: ``{"images": [N, steps, H, W, C], "png": string [N, steps]}`` (see traversal_latents)."""
    images = decode(traversal_latents(spec, dims, categories, values))
    images = tf.reshape(images, tf.concat([[-1, len(values)], tf.shape(images)[1:]], axis=0))
    return {"images": images, "png": encode_png(images)}
