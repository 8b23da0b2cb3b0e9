"""Pixel ranges: uint8 0..255 images as the models' float [0, 1] input, and back."""

from __future__ import annotations

import numpy as np

from jointvae_tf.errors import JointVAEError


def to_unit_range(images) -> np.ndarray:
    """float32 pixels in [0, 1] of uint8 ``images`` (divided by 255), the models' input range."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise JointVAEError(f"images: expected uint8 pixels, got dtype {images.dtype}")
    return images.astype(np.float32) / 255.0


def to_uint8(images) -> np.ndarray:
    """uint8 pixels of ``images``: floats in [0, 1] are clipped, scaled by 255 and rounded; uint8 passes."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise JointVAEError(f"images: expected float in [0, 1] or uint8, got dtype {images.dtype}")
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
