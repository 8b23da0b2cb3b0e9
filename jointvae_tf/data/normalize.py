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
RADIUS_FRACTION = 0.2
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


def normalize_images(images: np.ndarray, method: str) -> np.ndarray:
    """Apply normalisation ``method`` ("box" | "moments", see ``config.NORMALIZATIONS``) to uint8 images."""
    return {"box": normalize_handwriting, "moments": normalize_moments}[method](images)


def normalize_handwriting(images: np.ndarray, inner_fraction: float = INNER_FRACTION) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` (square) -> same shape, each drawing cropped to its ink's bounding box,
    rescaled (aspect kept) so its longer side spans ``inner_fraction`` of the frame, and centred."""
    return _by_chunks(images, lambda chunk: _box_windows(chunk, inner_fraction))


def normalize_moments(images: np.ndarray, radius_fraction: float = RADIUS_FRACTION) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` (square) -> same shape, each drawing centred on its centre of mass and
    rescaled so its ink's RMS distance from that centre is ``radius_fraction`` of the side.

    Unlike the bounding box, the second moment of a shape does not change when the shape turns, so a
    square keeps its size at any rotation (by the box, a square at 45 degrees shrinks to half the area).
    """
    return _by_chunks(images, lambda chunk: _moment_windows(chunk, radius_fraction))


def _by_chunks(images: np.ndarray, windows) -> np.ndarray:
    out = np.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK]
        out[start:start + _CHUNK] = _resample(chunk, *windows(chunk))
    return out


def _box_windows(images: np.ndarray, inner_fraction: float):
    """``(centre_y, centre_x, side, blank)`` of the crop window around each ink bounding box (pixels)."""
    size = images.shape[1]
    top, left, bottom, right = content_boxes(images).T.astype(np.float32)
    side = np.maximum(bottom - top, right - left) / inner_fraction
    blank = side == 0
    return (np.where(blank, size / 2, (top + bottom) / 2), np.where(blank, size / 2, (left + right) / 2),
            np.where(blank, size, side), blank)


def _moment_windows(images: np.ndarray, radius_fraction: float):
    """``(centre_y, centre_x, side, blank)`` from each image's ink centre of mass and RMS radius (pixels)."""
    size = images.shape[1]
    level = images.max(axis=-1).astype(np.float32)
    level = np.where(level > THRESHOLD * level.reshape(len(level), -1).max(axis=1)[:, None, None], level, 0.0)
    mass = level.sum(axis=(1, 2))
    blank = mass == 0
    mass = np.where(blank, 1.0, mass)
    coords = np.arange(size, dtype=np.float32) + 0.5
    centre_y = (level.sum(axis=2) * coords).sum(axis=1) / mass
    centre_x = (level.sum(axis=1) * coords).sum(axis=1) / mass
    spread_y = (level.sum(axis=2) * (coords[None] - centre_y[:, None]) ** 2).sum(axis=1) / mass
    spread_x = (level.sum(axis=1) * (coords[None] - centre_x[:, None]) ** 2).sum(axis=1) / mass
    radius = np.sqrt(spread_y + spread_x)
    blank |= radius == 0
    side = np.where(blank, size, radius / radius_fraction)
    return np.where(blank, size / 2, centre_y), np.where(blank, size / 2, centre_x), side, blank


def _resample(images: np.ndarray, centre_y, centre_x, side, blank) -> np.ndarray:
    """Crop the square window ``side`` pixels wide around ``(centre_y, centre_x)`` (pixel-edge coordinates)
    of each image and resample it to the full frame; blank images are returned unchanged."""
    size = images.shape[1]
    step = side / size
    # crop_and_resize samples pixel *indices* from y1 * (H - 1) to y2 * (H - 1); pixel j's centre of the
    # output should land at (edge + (j + 0.5) * step) in edge coordinates, i.e. that minus 0.5 in indices.
    first = lambda centre: (centre - side / 2 + step / 2 - 0.5) / (size - 1)
    last = lambda centre: (centre + side / 2 - step / 2 - 0.5) / (size - 1)
    crop = np.stack([first(centre_y), first(centre_x), last(centre_y), last(centre_x)], axis=1)
    resampled = tf.image.crop_and_resize(images, crop, tf.range(len(images)), (size, size))
    return np.where(blank[:, None, None, None], images,
                    np.clip(resampled.numpy() + 0.5, 0, 255).astype(np.uint8))
