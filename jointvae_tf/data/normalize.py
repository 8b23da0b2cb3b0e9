"""Handwriting-style normalisation, as MNIST was prepared.

Each image is cropped to the bounding box of its ink (pixels above :data:`THRESHOLD` of the image's
brightest), scaled with its aspect ratio kept so that the longer side fills :data:`INNER_FRACTION` of the
frame (20 of 28 for MNIST; 24 of 32, 48 of 64 here), and centred by its bounding box. Blank images are
left as they are. All images of a chunk are resampled at once with ``tf.image.crop_and_resize``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

INNER_FRACTION = 0.75
THRESHOLD = 0.3
_CHUNK = 4096


def content_boxes(images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Ink bounding boxes of uint8 ``[N, H, W, C]`` as int ``[N, 4]`` = ``(top, left, bottom, right)``,
    pixel edges (bottom/right exclusive); ``(0, 0, 0, 0)`` for a blank image."""
    level = images.max(axis=-1)
    peak = level.reshape(len(level), -1).max(axis=1)
    ink = (level > threshold * peak[:, None, None]) & (peak[:, None, None] > 0)
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    first = lambda mask: np.argmax(mask, axis=1)
    last = lambda mask: mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
    boxes = np.stack([first(rows), first(cols), last(rows), last(cols)], axis=1)
    return np.where(rows.any(axis=1)[:, None], boxes, 0)


def normalize_handwriting(images: np.ndarray, inner_fraction: float = INNER_FRACTION) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` (square) -> same shape, each drawing cropped, rescaled and centred."""
    out = np.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK]
        out[start:start + _CHUNK] = _normalize_chunk(chunk, content_boxes(chunk), inner_fraction)
    return out


def _normalize_chunk(images: np.ndarray, boxes: np.ndarray, inner_fraction: float) -> np.ndarray:
    size = images.shape[1]
    top, left, bottom, right = boxes.T.astype(np.float32)
    side = np.maximum(bottom - top, right - left) / inner_fraction
    blank = side == 0
    side = np.where(blank, size, side)
    centre_y, centre_x = np.where(blank, size / 2, (top + bottom) / 2), np.where(blank, size / 2, (left + right) / 2)
    step = side / size
    # crop_and_resize samples pixel *indices* from y1 * (H - 1) to y2 * (H - 1); pixel j's centre of the
    # output should land at (edge + (j + 0.5) * step) in edge coordinates, i.e. that minus 0.5 in indices.
    first = lambda centre: (centre - side / 2 + step / 2 - 0.5) / (size - 1)
    last = lambda centre: (centre + side / 2 - step / 2 - 0.5) / (size - 1)
    crop = np.stack([first(centre_y), first(centre_x), last(centre_y), last(centre_x)], axis=1)
    resampled = tf.image.crop_and_resize(images, crop, tf.range(len(images)), (size, size))
    return np.where(blank[:, None, None, None], images,
                    np.clip(resampled.numpy() + 0.5, 0, 255).astype(np.uint8))
