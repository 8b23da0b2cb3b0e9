"""Numeric precision of training: the Keras dtype policy and float16 loss scaling.

``float32`` computes and stores everything in float32. ``mixed_bfloat16`` and ``mixed_float16`` keep
the variables in float32 but compute the layers in 16 bits (bfloat16: same exponent range as float32, no
loss scaling needed; the fast choice on TPUs, Ampere+ GPUs and CPUs with AVX512-BF16/AMX). ``mixed_float16``
needs loss scaling against gradient underflow: Keras wraps the optimizer in a
``keras.optimizers.LossScaleOptimizer`` when a model of that policy is compiled, and the model's
``train_step`` calls ``optimizer.scale_loss``. Whatever the policy, the encoder's head and the decoder's
last layer are float32 layers, so the latent parameters, the sampling, the KL terms and the
reconstruction loss are all computed in float32.
"""

from __future__ import annotations

import keras

from jointvae_tf.core.config import PRECISIONS
from jointvae_tf.errors import ConfigError


def set_precision(precision: str) -> None:
    """Make ``precision`` (one of :data:`~jointvae_tf.core.config.PRECISIONS`) the global Keras dtype policy.

    Call it BEFORE the model is built: layers take the policy that is global when they are created.
    """
    if precision not in PRECISIONS:
        raise ConfigError("precision", f"expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    keras.mixed_precision.set_dtype_policy(precision)
