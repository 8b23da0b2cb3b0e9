"""The joint latent space: Gaussian and relaxed-categorical samples and their KL terms (nats).

Layout of a latent vector (see :class:`~jointvae_tf.core.config.LatentSpec`): ``[z, c_1, ..., c_n]`` with
``z`` of width ``cont`` and each ``c_i`` a (relaxed) one-hot of width ``disc[i]``.
"""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError


@dataclasses.dataclass
class Encoding:
    """Parameters of q(z, c | x) for a batch.

    ``mean``, ``log_var``: ``[batch, cont]``; ``logits``: one ``[batch, K_i]`` tensor per discrete variable.
    """

    mean: tf.Tensor
    log_var: tf.Tensor
    logits: list[tf.Tensor]


def split_encoding(encoding: tf.Tensor, spec: LatentSpec) -> Encoding:
    """Split the encoder's flat head ``[batch, 2 * cont + sum(disc)]`` into an :class:`Encoding`."""
    sizes = [spec.cont, spec.cont, *spec.disc]
    mean, log_var, *logits = tf.split(encoding, sizes, axis=-1)
    return Encoding(mean, log_var, logits)


def kl_normal(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)) per dimension, ``[batch, cont]`` in nats."""
    return 0.5 * (tf.square(mean) + tf.exp(log_var) - 1.0 - log_var)


def kl_categorical_uniform(logits: tf.Tensor) -> tf.Tensor:
    """KL(Categorical(softmax(logits)) || Uniform(K)) = log K - H(q), ``[batch]`` in nats."""
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    num_categories = tf.cast(tf.shape(logits)[-1], logits.dtype)
    return tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1) + tf.math.log(num_categories)


def kl_marginal_uniform(logits: tf.Tensor) -> tf.Tensor:
    """KL(q(c) || Uniform(K)) of the batch's average posterior q(c) = mean_x softmax(logits), scalar nats.

    The JointVAE term E_x KL(q(c|x) || U) equals I(x; c) + KL(q(c) || U): a confident encoder reaches it
    while using only some categories. This term is zero only when every category is used equally often
    in the batch, so weighting it keeps classes from merging (see ``LossConfig.disc_balance``).
    """
    probs = tf.reduce_mean(tf.nn.softmax(logits, axis=-1), axis=0)
    num_categories = tf.cast(tf.shape(logits)[-1], logits.dtype)
    return tf.reduce_sum(probs * tf.math.log(probs + 1e-12)) + tf.math.log(num_categories)


def sample_latent(encoding: Encoding, temperature: float, seed: tf.Tensor) -> tf.Tensor:
    """Reparameterised training sample ``[batch, size]``: z = mean + sigma * eps, c_i ~ RelaxedOneHot.

    ``seed``: a stateless seed, int32 ``[2]`` (for example from a ``keras.random.SeedGenerator``).
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 1 + len(encoding.logits)))
    eps = tf.random.stateless_normal(tf.shape(encoding.mean), seed=seeds[0], dtype=encoding.mean.dtype)
    parts = [encoding.mean + tf.exp(0.5 * encoding.log_var) * eps]
    for logits, part_seed in zip(encoding.logits, seeds[1:]):
        relaxed = tfp.distributions.RelaxedOneHotCategorical(temperature, logits=logits)
        parts.append(relaxed.sample(seed=part_seed))
    return tf.concat(parts, axis=-1)


def mode_latent(encoding: Encoding) -> tf.Tensor:
    """Inference latent ``[batch, size]``: z = mean, c_i = one-hot(argmax logits_i)."""
    parts = [encoding.mean]
    for logits in encoding.logits:
        parts.append(tf.one_hot(tf.argmax(logits, axis=-1), tf.shape(logits)[-1], dtype=encoding.mean.dtype))
    return tf.concat(parts, axis=-1)


def compose(spec: LatentSpec, z, categories) -> tf.Tensor:
    """Latent vectors from continuous values and category ids; the one place a latent is put together.

    Args:
      spec: the latent space.
      z: ``[N, spec.cont]`` float, the continuous part.
      categories: ``[N, len(spec.disc)]`` int, ``categories[n, i]`` in ``0 .. spec.disc[i] - 1``.

    Returns:
      ``[N, spec.size]`` float32 tensor: ``z`` followed by one one-hot block per discrete variable
      (:func:`one_hot_codes`). Called eagerly, shapes and category ids are checked (JointVAEError); inside a
      graph they are not (the export's signatures check their rows themselves).
    """
    if tf.executing_eagerly():
        z, categories = np.asarray(z, dtype=np.float32), np.asarray(categories, dtype=np.int64)
        if z.ndim != 2 or categories.ndim != 2 or z.shape[1] != spec.cont \
                or categories.shape[1] != len(spec.disc) or len(z) != len(categories):
            raise JointVAEError(f"compose: expected z [N, {spec.cont}] and categories [N, {len(spec.disc)}], "
                                f"got {z.shape} and {categories.shape}")
        for i, k in enumerate(spec.disc):
            if categories.size and (categories[:, i].min() < 0 or categories[:, i].max() >= k):
                raise JointVAEError(f"categories: discrete variable {i} has {k} categories, "
                                    f"got ids {np.unique(categories[:, i]).tolist()}")
    return tf.concat([tf.cast(z, tf.float32), one_hot_codes(categories, spec)], axis=-1)


def one_hot_codes(categories: tf.Tensor, spec: LatentSpec) -> tf.Tensor:
    """Concatenated one-hot discrete code ``[batch, sum(disc)]`` float32 from ``categories`` int ``[batch, n_disc]``."""
    parts = [tf.one_hot(categories[:, i], k) for i, k in enumerate(spec.disc)]
    if not parts:
        return tf.zeros([tf.shape(categories)[0], 0])
    return tf.concat(parts, axis=-1)


QUANTILE_RANGE = (0.05, 0.95)
_PRIOR = statistics.NormalDist()


def prior_quantile(probabilities) -> np.ndarray:
    """N(0, 1)'s inverse CDF at each of ``probabilities`` (a 1-D sequence in (0, 1))."""
    return np.array([_PRIOR.inv_cdf(float(p)) for p in probabilities])


def prior_quantiles(n: int) -> np.ndarray:
    """``[n]`` values of N(0, 1) at ``n`` probabilities evenly spaced from 0.05 to 0.95 (0 when ``n = 1``)."""
    if int(n) != n or n < 1:
        raise JointVAEError(f"steps: expected an integer >= 1, got {n}")
    return prior_quantile(np.linspace(*QUANTILE_RANGE, n) if n > 1 else [0.5])
