"""Encoder and decoder of the JointVAE paper (Dupont 2018, appendix) for 32x32 and 64x64 images.

Encoder: 4x4 stride-2 convolutions with 32, (32 for 64x64), 64, 64 filters and ReLU down to 4x4x64,
a 256-unit dense layer and one linear head ``[batch, 2 * cont + sum(disc)]`` (means, log-variances,
logits). Decoder: dense 256 and 4x4x64, then 4x4 stride-2 transposed convolutions with (64 for 64x64),
32, 32 filters and a last one to per-pixel logits ``[batch, height, width, channels]``. As in the
original code, 687,359 parameters for 32x32x1 with cont 10, disc [10].
"""

from __future__ import annotations

import keras

from jointvae_tf.core.config import ModelConfig


def _conv_filters(image_size: int) -> list[int]:
    """Filters of the encoder's stride-2 convolutions; each halves the side, down to 4x4."""
    return [32, 64, 64] if image_size == 32 else [32, 32, 64, 64]


def _deconv_filters(image_size: int) -> list[int]:
    """Filters of the decoder's hidden stride-2 transposed convolutions (each doubles the side)."""
    return [32, 32] if image_size == 32 else [64, 32, 32]


def build_encoder(config: ModelConfig) -> keras.Model:
    """Images ``[batch, H, W, C]`` in [0, 1] -> flat encoding ``[batch, 2 * cont + sum(disc)]``."""
    images = keras.Input(config.image_shape, name="images")
    x = images
    for i, filters in enumerate(_conv_filters(config.image_size)):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(config.hidden_units, activation="relu", name="hidden")(x)
    spec = config.latent
    encoding = keras.layers.Dense(2 * spec.cont + spec.disc_size, name="encoding", dtype="float32")(x)
    return keras.Model(images, encoding, name="encoder")


def build_decoder(config: ModelConfig) -> keras.Model:
    """Latent ``[batch, cont + sum(disc)]`` -> pixel logits ``[batch, H, W, C]`` (sigmoid gives the image)."""
    latent = keras.Input((config.latent.size,), name="latent")
    x = keras.layers.Dense(config.hidden_units, activation="relu", name="hidden")(latent)
    x = keras.layers.Dense(4 * 4 * 64, activation="relu", name="features")(x)
    x = keras.layers.Reshape((4, 4, 64), name="unflatten")(x)
    for i, f in enumerate(_deconv_filters(config.image_size)):
        x = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu", name=f"deconv{i}")(x)
    logits = keras.layers.Conv2DTranspose(config.channels, 4, strides=2, padding="same", name="logits",
                                          dtype="float32")(x)
    return keras.Model(latent, logits, name="decoder")
