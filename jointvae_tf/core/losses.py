"""Reconstruction losses, each a negative log-likelihood-like cost per image, ``[batch]``.

All losses sum over pixels and channels (never average), so they are on the same footing as the KL
terms, which are in nats per image; that is what makes ``gamma`` and the capacities comparable across
losses. ``targets`` are images in [0, 1], ``[batch, height, width, channels]``; the decoder gives
``logits`` of the same shape, and ``sigmoid(logits)`` is the reconstructed image.

- ``bce``: Bernoulli NLL, sum of ``-x log p - (1 - x) log(1 - p)`` (nats), computed from logits.
- ``mse`` / ``cauchy`` / ``general``: Barron's robust penalty ``rho(x - p, alpha, c)`` summed over pixels,
  with ``alpha = 2`` (L2, ``0.5 (r/c)^2``), ``alpha = 0`` (Cauchy, ``log(0.5 (r/c)^2 + 1)``) or any
  ``alpha`` (``general``).

The robust losses come in two forms (``LossConfig.form``): ``rho``, the bare penalty with a fixed scale
``c``; and ``nll``, which learns ``log c`` and adds the normaliser ``log c + log Z(alpha)`` per pixel, so the
term is a negative log-likelihood in nats like BCE. ``nll`` exists for ``alpha >= 0`` only (for
``alpha < 0`` ``exp(-rho)`` does not integrate). Why the ``rho`` form reconstructs blurry images against
the capacity terms, with measurements: docs/results/2026-11-26-four-shapes.md.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from jointvae_tf.core.config import LossConfig
from jointvae_tf.errors import ConfigError


def general_rho(residual: tf.Tensor, alpha: float, scale) -> tf.Tensor:
    """Barron's general robust penalty rho(r, alpha, c), elementwise (Barron, CVPR 2019, eq. 1).

    rho = |alpha - 2| / alpha * (((r / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1), with the limits
    alpha = 2: 0.5 (r/c)^2 (L2); alpha = 0: log(0.5 (r/c)^2 + 1) (Cauchy); alpha = -inf:
    1 - exp(-0.5 (r/c)^2) (Welsch); alpha = 1 gives Charbonnier sqrt((r/c)^2 + 1) - 1 and alpha = -2
    Geman-McClure 2 (r/c)^2 / ((r/c)^2 + 4). ``alpha`` is a Python float (fixed per model); ``scale``
    is c > 0, a float or a tensor broadcastable to ``residual``.
    """
    squared = tf.square(residual / scale)
    if alpha == 2.0:
        return 0.5 * squared
    if alpha == 0.0:
        return tf.math.log1p(0.5 * squared)
    if alpha == -math.inf:
        return -tf.math.expm1(-0.5 * squared)
    beta = abs(alpha - 2.0)
    # (s + 1)^(a/2) - 1 as expm1(a/2 * log1p(s)): no cancellation for alpha near 0.
    return beta / alpha * tf.math.expm1(0.5 * alpha * tf.math.log1p(squared / beta))


def log_partition(alpha: float) -> float:
    """log Z(alpha), Z = integral over the real line of exp(-rho(x, alpha, 1)) dx (alpha >= 0).

    Closed forms: alpha = 2: log sqrt(2 pi); alpha = 0: log(pi sqrt 2). Otherwise numerical quadrature
    in log-space (x = e^u), accurate to ~1e-6 relative for alpha in (0, 2].
    """
    if alpha < 0:
        raise ConfigError("alpha", f"the nll form needs alpha >= 0 (exp(-rho) is not integrable), got {alpha}")
    if alpha == 2.0:
        return 0.5 * math.log(2 * math.pi)
    if alpha == 0.0:
        return math.log(math.pi * math.sqrt(2.0))
    u = np.linspace(-40.0, 80.0, 400_001)
    x = np.exp(u)
    beta = abs(alpha - 2.0)
    rho = beta / alpha * ((x * x / beta + 1.0) ** (0.5 * alpha) - 1.0)
    integrand = np.exp(-rho) * x
    return float(math.log(2.0 * np.trapezoid(integrand, u)))


def loss_alpha(config: LossConfig) -> float:
    """The robust-loss shape used for ``config.kind`` (mse: 2, cauchy: 0, general: config.alpha)."""
    return {"mse": 2.0, "cauchy": 0.0}.get(config.kind, config.alpha)


def reconstruction_loss(targets: tf.Tensor, logits: tf.Tensor, config: LossConfig,
                        log_scale: tf.Tensor | None = None) -> tf.Tensor:
    """Reconstruction cost per image, ``[batch]``, summed over height, width and channels.

    ``log_scale``: learned log c (scalar) for the ``nll`` form of the robust losses; ignored for bce.
    """
    if config.kind == "bce":
        per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    else:
        alpha = loss_alpha(config)
        residual = targets - tf.sigmoid(logits)
        if config.form == "nll":
            per_pixel = general_rho(residual, alpha, tf.exp(log_scale)) + log_scale + log_partition(alpha)
        else:
            per_pixel = general_rho(residual, alpha, config.scale)
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


def uses_learned_scale(config: LossConfig) -> bool:
    """Whether the loss learns log c (robust losses in the ``nll`` form)."""
    return config.kind != "bce" and config.form == "nll"
