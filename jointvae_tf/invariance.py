"""Invariance of the discrete code to nuisance transforms (random rotation, scaling and shifts).

The JointVAE objective alone lets the discrete code carry whatever splits the data best, and for shapes
seen at every angle that is often orientation: a Gaussian dimension cannot wrap around a periodic angle,
so a category takes a range of angles instead of a shape; handwriting splits by slant, size and position
as easily as by digit. When the classes are known to be unchanged by a transform, the objective can say
so: each batch is also encoded through a random transform t (a rotation, a scaling and a shift about the
image centre, see :class:`jointvae_tf.config.InvarianceConfig`), and

    disc_disagreement = - mean_x log sum_k q(c = k | x) q(c = k | t(x))        (nats, per variable)

(the negative log-probability that the two views draw the same category) is added with a weight. It is
zero only when both views are confidently put in the same category; with the balance term
(``latents.kl_marginal_uniform``) the categories cannot all collapse into one.
"""

from __future__ import annotations

import math

import tensorflow as tf


def warp(images: tf.Tensor, angles: tf.Tensor, scales: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Rotate, scale and shift each image about its centre; bilinear, zero outside the frame.

    ``images``: ``[batch, height, width, channels]``; ``angles``: ``[batch]`` radians counter-clockwise;
    ``scales``: ``[batch]`` magnification (2 doubles the drawing); ``shifts``: ``[batch, 2]`` pixels
    (down, right). Built from gathers only, so it compiles under XLA. A quarter turn of a square image
    with scale 1 and no shift is exact (``np.rot90``).
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    dtype = images.dtype
    centre_y, centre_x = (tf.cast(height, dtype) - 1.0) / 2.0, (tf.cast(width, dtype) - 1.0) / 2.0
    rows = tf.cast(tf.range(height), dtype) - centre_y
    cols = tf.cast(tf.range(width), dtype) - centre_x
    y, x = tf.meshgrid(rows, cols, indexing="ij")  # [H, W], y grows downwards
    shifts = tf.cast(shifts, dtype)
    y = y[None] - shifts[:, 0, None, None]
    x = x[None] - shifts[:, 1, None, None]
    inverse_scale = 1.0 / tf.cast(scales, dtype)[:, None, None]
    cos = tf.cos(tf.cast(angles, dtype))[:, None, None] * inverse_scale
    sin = tf.sin(tf.cast(angles, dtype))[:, None, None] * inverse_scale
    # Output pixel (y, x) reads the input at the inverse transform of (y, x); counter-clockwise on screen
    # means a negative angle in (row-down, column-right) coordinates.
    source_x = cos * x - sin * y + centre_x
    source_y = sin * x + cos * y + centre_y
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


def change_thickness(images: tf.Tensor, amounts: tf.Tensor) -> tf.Tensor:
    """Thicken (``amounts`` > 0) or thin (< 0) bright strokes by up to one pixel.

    ``images``: ``[batch, H, W, C]`` bright ink on a dark ground; ``amounts``: ``[batch]`` in [-1, 1], the
    blend towards the 3x3 grey-level dilation (max filter) or erosion (min filter) of each image.
    """
    dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    amounts = tf.cast(amounts, images.dtype)[:, None, None, None]
    target = tf.where(amounts > 0, dilated, eroded)
    return images + tf.abs(amounts) * (target - images)


def random_transform(images: tf.Tensor, config, seed: tf.Tensor) -> tf.Tensor:
    """``images`` ``[batch, H, W, C]`` each warped by a random transform drawn from ``config``.

    ``config``: an :class:`jointvae_tf.config.InvarianceConfig`: angle uniform in +-``rotation`` degrees,
    log-scale uniform in +-log(1 + ``scale``), shift uniform in +-``shift`` pixels along each axis, and
    strokes thickened or thinned by an amount uniform in +-``thickness`` (:func:`change_thickness`).
    ``seed``: a stateless seed, int32 ``[2]``.
    """
    batch = tf.shape(images)[:1]
    angle_seed, scale_seed, shift_seed, thickness_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    limit = math.radians(config.rotation)
    angles = tf.random.stateless_uniform(batch, angle_seed, minval=-limit, maxval=limit)
    log_limit = math.log1p(config.scale)
    scales = tf.exp(tf.random.stateless_uniform(batch, scale_seed, minval=-log_limit, maxval=log_limit))
    shifts = tf.random.stateless_uniform(tf.concat([batch, [2]], 0), shift_seed, minval=-config.shift,
                                         maxval=config.shift)
    warped = warp(images, angles, scales, shifts)
    if not config.thickness:
        return warped
    amounts = tf.random.stateless_uniform(batch, thickness_seed, minval=-config.thickness, maxval=config.thickness)
    return change_thickness(warped, amounts)


def disagreement(logits: tf.Tensor, other_logits: tf.Tensor) -> tf.Tensor:
    """-log sum_k q_k q'_k averaged over the batch: nats, scalar; 0 when both views agree confidently.

    ``logits``, ``other_logits``: ``[batch, K]`` logits of q(c | x) for two views of the same images.
    """
    log_agreement = tf.reduce_logsumexp(tf.nn.log_softmax(logits, -1) + tf.nn.log_softmax(other_logits, -1), -1)
    return -tf.reduce_mean(log_agreement)
