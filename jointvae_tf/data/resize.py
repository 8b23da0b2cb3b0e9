"""Bring images of any size and colour to the model's square ``size x size x channels`` uint8 input.

Rule: a side a few pixels short of the target (at most :data:`PAD_LIMIT` of it; 28 of 32) is padded
with black, centred, rather than resampled, which keeps thin strokes crisp (MNIST digits already have a
4-pixel empty border); anything else is resampled with PIL's antialiased bilinear filter. 28 -> 64 is
both: padded to 32, then upsampled.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

PAD_LIMIT = 0.125
"""Largest shortfall, as a fraction of the padded side, that is filled by padding instead of resampling."""
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def fit_images(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 ``[N, h, w, c]`` (c = 1 or 3) -> uint8 ``[N, size, size, channels]``.

    Grey becomes RGB by repetition, RGB becomes grey by ITU-R 601 luma (as PIL's ``L`` mode).
    Non-square images are stretched to square.
    """
    images = to_channels(images, channels)
    images = _pad_towards(images, size)
    if images.shape[1:3] == (size, size):
        return images
    with ThreadPoolExecutor() as pool:
        return np.stack(list(pool.map(lambda image: resize_image(image, size), images))) if len(images) else \
            np.zeros((0, size, size, channels), np.uint8)


def fit_image(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """One uint8 ``[h, w, c]`` image -> ``[size, size, channels]``, by the rule of :func:`fit_images`."""
    return fit_images(image[None], size, channels)[0]


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[N, h, w, c]`` -> uint8 ``[N, h, w, channels]``."""
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return np.clip(images.astype(np.float32) @ _LUMA + 0.5, 0, 255).astype(np.uint8)[..., None]


def halve(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 2h, 2w, c]`` -> ``[N, h, w, c]``, each pixel the mean of its 2x2 block."""
    total = images[:, 0::2, 0::2].astype(np.uint16)
    total += images[:, 0::2, 1::2]
    total += images[:, 1::2, 0::2]
    total += images[:, 1::2, 1::2]
    return ((total + 2) // 4).astype(np.uint8)  # the mean rounded half up


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[h, w, c]`` -> ``[size, size, c]`` with PIL's antialiased bilinear filter."""
    resized = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).resize(
        (size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized).reshape(size, size, image.shape[-1])


def _pad_towards(images: np.ndarray, size: int) -> np.ndarray:
    """Pad each side with black up to the power of two (<= ``size``) just above it, when close enough."""
    padded = images
    for axis in (1, 2):
        side = images.shape[axis]
        target = 1 << max(side - 1, 1).bit_length()
        if side < target <= size and target - side <= PAD_LIMIT * target:
            widths = [(0, 0)] * 4
            widths[axis] = ((target - side) // 2, (target - side + 1) // 2)
            padded = np.pad(padded, widths)
    return padded
