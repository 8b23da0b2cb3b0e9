"""Invariance of the discrete code to nuisance transforms (random moves, stroke width and drawing style).

The JointVAE objective alone lets the discrete code carry whatever splits the data best, and for shapes
seen at every angle that is often orientation: a Gaussian dimension cannot wrap around a periodic angle,
so a category takes a range of angles instead of a shape; handwriting splits by slant, size and position
as easily as by digit. When the classes are known to be unchanged by a transform, the objective can say
so: each batch is also encoded through a random transform t (a rotation, a scaling and a shift about the
image centre, thicker or thinner strokes, an outline or hatching instead of a fill, another contrast, pixel
noise; see :class:`jointvae_tf.core.config.InvarianceConfig`), and

    disc_disagreement = - mean_x log sum_k q(c = k | x) q(c = k | t(x))        (nats, per variable)

(``agreement``: the negative log-probability that the two views draw the same category) is added with a
weight. It is zero only when both views are confidently put in the same category; with the balance term
(``latents.kl_marginal_uniform``) the categories cannot all collapse into one. The ``mutual_information``
objective (IIC, Ji et al. 2019) scores the batch as a whole instead: with P the symmetrised joint
distribution of the two views' categories over the batch,

    disc_disagreement = log K - I(c; c'),    I(c; c') = sum_kl P_kl log(P_kl / (P_k P_l))

zero only when every image and its transform confidently share a category and the K categories are used
equally often, so it also balances the categories by itself. Findings on both: docs/results/2026-11-27-handwriting.md.
"""

from __future__ import annotations

import math

import tensorflow as tf

_JOINT_FLOOR = 1e-8
"""Least probability of a pair of categories in the joint of :func:`information_gap` (keeps its log finite)."""


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
    amounts = tf.cast(amounts, images.dtype)[:, None, None, None]
    target = tf.where(amounts > 0, _dilate(images), _erode(images))
    return images + tf.abs(amounts) * (target - images)


def outline(images: tf.Tensor) -> tf.Tensor:
    """The morphological edge of each drawing: its 3x3 grey-level dilation minus its erosion.

    ``images``: ``[batch, H, W, C]`` bright ink on a dark ground, levels in [0, 1]; the result has the same
    shape and range. A filled shape becomes its outline, a ring two pixels wide along its edge (one pixel
    inside, one outside) around an empty centre; a stroke one or two pixels wide becomes a stroke two pixels
    wider.
    """
    return _dilate(images) - _erode(images)


def hatch(images: tf.Tensor, angles: tf.Tensor, periods: tf.Tensor, phases: tf.Tensor) -> tf.Tensor:
    """Each drawing's fill replaced by parallel stripes inside its outline (:func:`outline`).

    ``images``: ``[batch, H, W, C]`` bright ink on a dark ground, levels in [0, 1]; ``angles``: ``[batch]``
    radians, the direction across the stripes (0: vertical stripes); ``periods``: ``[batch]`` pixels from
    one stripe to the next, half of it ink; ``phases``: ``[batch]`` in [0, 1), the fraction of a period by
    which the stripes are moved. The result has the shape and range of ``images``.
    """
    shape, dtype = tf.shape(images), images.dtype
    rows = tf.cast(tf.range(shape[1]), dtype)[None, :, None]
    cols = tf.cast(tf.range(shape[2]), dtype)[None, None, :]
    per_image = lambda values: tf.cast(values, dtype)[:, None, None]
    across = (cols * tf.cos(per_image(angles)) + rows * tf.sin(per_image(angles))) / per_image(periods)
    across += per_image(phases)
    stripes = tf.cast(across - tf.floor(across) < 0.5, dtype)[..., None]
    return tf.maximum(outline(images), images * stripes)


def change_contrast(images: tf.Tensor, grounds: tf.Tensor, gains: tf.Tensor) -> tf.Tensor:
    """``grounds + gains * (1 - grounds) * images``: the dark ground raised to ``grounds`` and the ink's
    departure from it scaled by ``gains``.

    ``images``: ``[batch, H, W, C]`` levels in [0, 1]; ``grounds``, ``gains``: ``[batch]`` in [0, 1]. The
    result stays in [0, 1]; full ink ends ``gains * (1 - grounds)`` above the ground.
    """
    grounds = tf.cast(grounds, images.dtype)[:, None, None, None]
    gains = tf.cast(gains, images.dtype)[:, None, None, None]
    return grounds + gains * (1.0 - grounds) * images


def random_transform(images: tf.Tensor, config, seed: tf.Tensor) -> tf.Tensor:
    """``images`` ``[batch, H, W, C]`` (levels in [0, 1]) each moved and restyled at random by ``config``.

    ``config``: an :class:`jointvae_tf.core.config.InvarianceConfig`: angle uniform in +-``rotation`` degrees,
    log-scale uniform in +-log(1 + ``scale``), shift uniform in +-``shift`` pixels along each axis, and
    strokes thickened or thinned by an amount uniform in +-``thickness`` (:func:`change_thickness`); then
    :func:`restyle`. ``seed``: a stateless seed, int32 ``[2]``.
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
    amounts = None
    if config.thickness:
        amounts = tf.random.stateless_uniform(batch, thickness_seed, minval=-config.thickness,
                                              maxval=config.thickness)
    transformed = _moved(images, angles, scales, shifts, amounts)
    # The style's draws come from a seed of their own, so the moves above draw what they drew before it.
    return restyle(transformed, config, tf.random.experimental.stateless_fold_in(seed, 4))


# Compiled on its own, also inside a training step that is not: the warp's gathers and the thickness' pools
# run as one kernel (docs/reference/performance.md). The random draws stay outside: under XLA the stateless
# generators would pick another algorithm and draw other numbers.
@tf.function(jit_compile=True, reduce_retracing=True)
def _moved(images: tf.Tensor, angles: tf.Tensor, scales: tf.Tensor, shifts: tf.Tensor,
           amounts: tf.Tensor | None) -> tf.Tensor:
    """:func:`warp`, then :func:`change_thickness` by ``amounts`` unless it is None."""
    moved = warp(images, angles, scales, shifts)
    return moved if amounts is None else change_thickness(moved, amounts)


def restyle(images: tf.Tensor, config, seed: tf.Tensor) -> tf.Tensor:
    """``images`` ``[batch, H, W, C]`` (bright ink on a dark ground, levels in [0, 1]) each drawn in a
    random style by ``config`` (an :class:`jointvae_tf.core.config.InvarianceConfig`); same shape and range.

    With probability ``outline`` an image becomes its :func:`outline`, else with probability ``hatch`` it
    is :func:`hatch`-ed (stripes at any angle, every 3 to 6 pixels); then its ground is raised by up to
    ``contrast`` and its ink dimmed by a gain down to 1 - ``contrast`` (:func:`change_contrast`, both
    uniform); then Gaussian pixel noise of a standard deviation uniform up to ``noise`` is added and the
    levels clipped to [0, 1]. A setting of 0 leaves its step out. ``seed``: a stateless seed, int32 ``[2]``.
    """
    batch = tf.shape(images)[:1]
    style_seed, stripe_seed, contrast_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    if config.outline or config.hatch:
        choice = tf.random.stateless_uniform(batch, style_seed)[:, None, None, None]
        styled = tf.where(choice < config.outline, outline(images), images)
        if config.hatch:
            angle_seed, period_seed, phase_seed = tf.unstack(tf.random.experimental.stateless_split(stripe_seed, 3))
            hatched = hatch(images, tf.random.stateless_uniform(batch, angle_seed, maxval=math.pi),
                            tf.random.stateless_uniform(batch, period_seed, minval=3.0, maxval=6.0),
                            tf.random.stateless_uniform(batch, phase_seed))
            chosen = (choice >= config.outline) & (choice < config.outline + config.hatch)
            styled = tf.where(chosen, hatched, styled)
        images = styled
    if config.contrast:
        ground_seed, gain_seed = tf.unstack(tf.random.experimental.stateless_split(contrast_seed, 2))
        images = change_contrast(images, tf.random.stateless_uniform(batch, ground_seed, maxval=config.contrast),
                                 tf.random.stateless_uniform(batch, gain_seed, minval=1.0 - config.contrast))
    if config.noise:
        deviation_seed, pixel_seed = tf.unstack(tf.random.experimental.stateless_split(noise_seed, 2))
        deviations = tf.random.stateless_uniform(batch, deviation_seed, maxval=config.noise)
        noise = tf.random.stateless_normal(tf.shape(images), pixel_seed) * deviations[:, None, None, None]
        images = tf.clip_by_value(images + tf.cast(noise, images.dtype), 0.0, 1.0)
    return images


def _dilate(images: tf.Tensor) -> tf.Tensor:
    """3x3 grey-level dilation (max filter) of ``[batch, H, W, C]``."""
    return tf.nn.max_pool2d(images, 3, 1, "SAME")


def _erode(images: tf.Tensor) -> tf.Tensor:
    """3x3 grey-level erosion (min filter) of ``[batch, H, W, C]``; the frame's edge counts as ink."""
    return -tf.nn.max_pool2d(-images, 3, 1, "SAME")


def disagreement(logits: tf.Tensor, other_logits: tf.Tensor) -> tf.Tensor:
    """-log sum_k q_k q'_k averaged over the batch: nats, scalar; 0 when both views agree confidently.

    ``logits``, ``other_logits``: ``[batch, K]`` logits of q(c | x) for two views of the same images.
    """
    log_agreement = tf.reduce_logsumexp(tf.nn.log_softmax(logits, -1) + tf.nn.log_softmax(other_logits, -1), -1)
    return -tf.reduce_mean(log_agreement)


def information_gap(logits: tf.Tensor, other_logits: tf.Tensor) -> tf.Tensor:
    """log K - I(c; c') of the two views' categories over the batch: nats, scalar, in [0, log K].

    ``logits``, ``other_logits``: ``[batch, K]`` logits of q(c | x) for two views of the same images. The
    joint ``P[k, l] = mean_x q(c = k | x) q(c' = l | t(x))`` is symmetrised (the two views play the same
    part) and floored at :data:`_JOINT_FLOOR` before its logarithm, as IIC does.
    """
    probabilities = tf.nn.softmax(logits, -1)
    other_probabilities = tf.nn.softmax(other_logits, -1)
    joint = tf.einsum("bk,bl->kl", probabilities, other_probabilities) / tf.cast(tf.shape(logits)[0], logits.dtype)
    joint = tf.maximum((joint + tf.transpose(joint)) / 2.0, _JOINT_FLOOR)
    marginal = tf.reduce_sum(joint, axis=1)
    information = tf.reduce_sum(joint * (tf.math.log(joint) - tf.math.log(marginal)[:, None]
                                         - tf.math.log(marginal)[None, :]))
    return tf.math.log(tf.cast(tf.shape(logits)[-1], logits.dtype)) - information


OBJECTIVES = {"agreement": disagreement, "mutual_information": information_gap}
"""The disagreement function of each ``InvarianceConfig.objective``."""
