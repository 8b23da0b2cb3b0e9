"""Invariance of the discrete code to a nuisance transform (random rotations about the image centre).

The JointVAE objective alone lets the discrete code carry whatever splits the data best, and for shapes
seen at every angle that is often orientation: a Gaussian dimension cannot wrap around a periodic angle,
so a category takes a range of angles instead of a shape. When the classes are known to be unchanged by
rotation, the objective can say so: each batch is also encoded rotated by a random angle, and

    disc_disagreement = - mean_x log sum_k q(c = k | x) q(c = k | rotate(x))        (nats, per variable)

(the negative log-probability that the two views draw the same category) is added with a weight. It is
zero only when both views are confidently put in the same category; with the balance term
(``latents.kl_marginal_uniform``) the categories cannot all collapse into one.
"""

from __future__ import annotations

import math

import tensorflow as tf


def rotate(images: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
    """Rotate each image counter-clockwise about its centre, bilinear, zero outside the frame.

    ``images``: ``[batch, height, width, channels]``; ``angles``: ``[batch]`` in radians. Built from
    gathers only, so it compiles under XLA. A quarter turn of a square image is exact (``np.rot90``).
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    dtype = images.dtype
    rows = tf.cast(tf.range(height), dtype) - (tf.cast(height, dtype) - 1.0) / 2.0
    cols = tf.cast(tf.range(width), dtype) - (tf.cast(width, dtype) - 1.0) / 2.0
    y, x = tf.meshgrid(rows, cols, indexing="ij")  # [H, W], y grows downwards
    cos = tf.cos(tf.cast(angles, dtype))[:, None, None]
    sin = tf.sin(tf.cast(angles, dtype))[:, None, None]
    # Output pixel (y, x) reads the input at the inverse rotation of (y, x); counter-clockwise on screen
    # means a negative angle in (row-down, column-right) coordinates.
    source_x = cos * x - sin * y + (tf.cast(width, dtype) - 1.0) / 2.0
    source_y = sin * x + cos * y + (tf.cast(height, dtype) - 1.0) / 2.0
    x0, y0 = tf.floor(source_x), tf.floor(source_y)
    flat = tf.reshape(images, [batch * height * width, channels])
    offsets = (tf.range(batch) * height * width)[:, None, None]
    result = tf.zeros_like(images)
    for dy in (0.0, 1.0):
        for dx in (0.0, 1.0):
            corner_x, corner_y = x0 + dx, y0 + dy
            weight = (1.0 - tf.abs(source_x - corner_x)) * (1.0 - tf.abs(source_y - corner_y))
            inside = ((corner_x >= 0) & (corner_x <= tf.cast(width, dtype) - 1.0)
                      & (corner_y >= 0) & (corner_y <= tf.cast(height, dtype) - 1.0))
            index = (tf.clip_by_value(tf.cast(corner_y, tf.int32), 0, height - 1) * width
                     + tf.clip_by_value(tf.cast(corner_x, tf.int32), 0, width - 1) + offsets)
            weight = tf.where(inside, weight, tf.zeros_like(weight))
            result += tf.gather(flat, index) * weight[..., None]
    return result


def random_rotation(images: tf.Tensor, max_degrees: float, seed: tf.Tensor) -> tf.Tensor:
    """``images`` ``[batch, H, W, C]`` each rotated by an angle uniform in [-max_degrees, max_degrees].

    ``seed``: a stateless seed, int32 ``[2]``.
    """
    limit = math.radians(max_degrees)
    angles = tf.random.stateless_uniform(tf.shape(images)[:1], seed, minval=-limit, maxval=limit)
    return rotate(images, angles)


def disagreement(logits: tf.Tensor, other_logits: tf.Tensor) -> tf.Tensor:
    """-log sum_k q_k q'_k averaged over the batch: nats, scalar; 0 when both views agree confidently.

    ``logits``, ``other_logits``: ``[batch, K]`` logits of q(c | x) for two views of the same images.
    """
    log_agreement = tf.reduce_logsumexp(tf.nn.log_softmax(logits, -1) + tf.nn.log_softmax(other_logits, -1), -1)
    return -tf.reduce_mean(log_agreement)
