"""Image normalisation: each drawing re-centred and rescaled, the way MNIST was prepared, or by moments.

- ``box`` (handwriting): crop to the bounding box of the ink (pixels above :data:`THRESHOLD` of the
  image's brightest), scale with the aspect ratio kept so the longer side fills :data:`INNER_FRACTION`
  of the frame (20 of 28 for MNIST; 24 of 32, 48 of 64 here), centre the box.
- ``moments``: centre the ink's centre of mass and scale its RMS radius to :data:`RADIUS_FRACTION` of the
  side. The second moment of a shape does not change when it turns, so a square keeps its size at any
  rotation (by the box, a square at 45 degrees shrinks to half the area).
- ``affine``: as ``moments``, but the ink's 2x2 covariance is whitened, which undoes stretch, shear and
  the perspective tilt of a hand-held shape (any triangle becomes equilateral, any ellipse a circle) and
  keeps rotation. For shapes; it would erase the differences between some handwritten characters.
- ``silhouette``: as ``affine``, on the drawing's silhouette (:func:`fill_silhouettes`): what the ink
  encloses is filled, so a filled shape, its outline and a hatched one become the same white figure. For
  shapes whose class is their outline, drawn in any style.

Every method first brings each image to bright ink on a black ground (:func:`ink_on_black`): its ground
level is estimated from its border and only the departure from it is ink, and dark ink on light paper is
turned into bright ink on black, as the model and the other datasets have it. Blank images are then left
where they are. All images of a chunk are warped at once by one affine map each.
"""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf

from jointvae_tf.data.parallel import map_in_order

INNER_FRACTION = 0.75
RADIUS_FRACTION = 0.2
THRESHOLD = 0.3
SILHOUETTE_CLOSING = 1
"""Pixels the ink is dilated by (and the filled figure eroded by) in :func:`fill_silhouettes`."""
GROUND_TOLERANCE = 0.05
"""A ground within this fraction of full scale of black is black: :func:`ink_on_black` keeps such images."""
_MIN_ROOM = 32.0
"""Grey levels: the least range between the ground and the scale's end that ink is stretched over."""
_CHUNK = 1024
_MIN_VARIANCE = 0.25
"""Pixels^2 added to the ink covariance so that a straight line still gives an invertible map."""


def ink_mask(images: np.ndarray) -> np.ndarray:
    """Where the ink of uint8 ``[N, H, W, C]`` is: bool ``[N, H, W]``, the pixels whose brightest channel lies
    above :data:`THRESHOLD` of the image's brightest level (none in a blank image: no level lies above 0)."""
    level = images.max(axis=-1)
    return level > THRESHOLD * level.reshape(len(level), -1).max(axis=1)[:, None, None]


def content_boxes(images: np.ndarray) -> np.ndarray:
    """Ink bounding boxes of uint8 ``[N, H, W, C]`` as int ``[N, 4]`` = ``(top, left, bottom, right)``,
    pixel edges (bottom/right exclusive); ``(0, 0, 0, 0)`` for a blank image."""
    ink = ink_mask(images)
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    first = lambda mask: np.argmax(mask, axis=1)
    last = lambda mask: mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
    boxes = np.stack([first(rows), first(cols), last(rows), last(cols)], axis=1)
    return np.where(rows.any(axis=1)[:, None], boxes, 0)


def ink_on_black(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` -> the same shape with each image as bright ink on a black ground.

    An image's ground is the median of its border pixels (the outermost rows and columns), per channel; its
    ink is the departure from that ground. When the pixels darker than the ground depart more in total
    than the brighter ones (dark ink on light paper), the polarity is flipped. The departure is stretched
    so that the ground becomes 0 and the scale's far end (255 for bright ink, 0 for dark ink) becomes 255,
    over a range of at least :data:`_MIN_ROOM` levels. An image with bright ink on a ground within
    :data:`GROUND_TOLERANCE` of black in every channel is returned unchanged.
    """
    levels = images.astype(np.float32)
    border = np.concatenate([levels[:, 0], levels[:, -1], levels[:, 1:-1, 0], levels[:, 1:-1, -1]], axis=1)
    ground = np.median(border, axis=1)[:, None, None, :]  # [N, 1, 1, C]
    departure = levels - ground
    flip = np.maximum(-departure, 0).sum(axis=(1, 2, 3)) > np.maximum(departure, 0).sum(axis=(1, 2, 3))
    flip = flip[:, None, None, None]
    room = np.maximum(np.where(flip, ground, 255.0 - ground), _MIN_ROOM)
    converted = np.clip(np.where(flip, -departure, departure) * (255.0 / room) + 0.5, 0, 255).astype(np.uint8)
    black = ~flip & np.all(ground <= GROUND_TOLERANCE * 255, axis=-1, keepdims=True)
    return np.where(black, images, converted)


def fill_silhouettes(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` bright ink on black -> the same shape, each image its ink's silhouette at full
    brightness wherever the ink is or encloses, 0 elsewhere: 255 in the image's brightest channel, the
    other channels in proportion (a red drawing gives a red figure), so the ink's level is not kept.

    Ink is what lies above :data:`THRESHOLD` of the image's brightest level. Gaps in a stroke up to
    2 * :data:`SILHOUETTE_CLOSING` pixels wide are closed first (the ink is dilated by that many pixels, the
    filled figure eroded back by as many), so a hand-drawn outline that does not quite meet still
    encloses its inside. The outside is what a 4-connected flood from the border reaches without crossing
    ink. A blank image stays blank.
    """
    ink = ink_mask(images)
    for _ in range(SILHOUETTE_CLOSING):
        ink = _grow(ink)
    figure = ~_outside(ink)
    for _ in range(SILHOUETTE_CLOSING):
        figure = ~_grow(~figure)
    colour = images.max(axis=(1, 2)).astype(np.float32)  # [N, C]
    colour = 255.0 * colour / np.maximum(colour.max(axis=1, keepdims=True), 1.0)
    return np.where(figure[..., None], colour[:, None, None, :] + 0.5, 0).astype(np.uint8)


def _grow(mask: np.ndarray) -> np.ndarray:
    """bool ``[N, H, W]`` dilated by one pixel, to the 8 neighbours."""
    grown = mask.copy()
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    rows = grown.copy()
    grown[:, :, 1:] |= rows[:, :, :-1]
    grown[:, :, :-1] |= rows[:, :, 1:]
    return grown


def _outside(ink: np.ndarray) -> np.ndarray:
    """bool ``[N, H, W]``: the pixels a 4-connected flood from the frame's border reaches without crossing
    ``ink`` (bool ``[N, H, W]``). Spread along whole rows and whole columns in turn until a spread adds
    nothing to the last one (which was along the other axis): as many spreads as the longest such path has
    turns, not as it has pixels."""
    rows, columns = _Lines(ink, 2), _Lines(ink, 1)
    outside = np.zeros_like(ink)
    outside[:, [0, -1], :] = ~ink[:, [0, -1], :]
    outside[:, :, [0, -1]] = ~ink[:, :, [0, -1]]
    outside = rows.spread(outside)
    for lines in itertools.cycle((columns, rows)):
        reached = lines.spread(outside)
        if np.array_equal(reached, outside):
            return outside
        outside = reached


class _Lines:
    """The lines of bool ``[N, H, W]`` images along ``axis``, cut into runs by their walls (``ink``), for
    :meth:`spread`. Each run, a wall pixel and the free pixels after it up to the next wall (or a line's
    start and its pixels before the first wall), has one number over the whole array: ``runs``, int32
    ``[N, H, W]``, numbered from 0 to ``count - 1``."""

    def __init__(self, walls: np.ndarray, axis: int):
        self.walls = walls
        starts = np.moveaxis(walls, axis, -1).copy()  # C order: along the lines, then line after line
        starts[..., 0] = True
        runs = np.cumsum(starts.ravel(), dtype=np.int32).reshape(starts.shape) - 1
        self.runs = np.moveaxis(runs, -1, axis)
        self.count = int(runs.reshape(-1)[-1]) + 1

    def spread(self, seeds: np.ndarray) -> np.ndarray:
        """``seeds`` (never on a wall) grown along the lines both ways up to the next wall: the free pixels of
        every run that holds a seed."""
        seeded = np.zeros(self.count, bool)
        seeded[self.runs[seeds]] = True
        return seeded[self.runs] & ~self.walls


def normalize_images(images: np.ndarray, method: str) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` (square) -> same shape, brought to bright ink on black (:func:`ink_on_black`)
    and normalised by ``method`` ("box" | "moments" | "affine" | "silhouette", see the module docstring)."""
    prepare, windows = {"box": (ink_on_black, _box_maps), "moments": (ink_on_black, _moment_maps),
                        "affine": (ink_on_black, _affine_maps), "silhouette": (_silhouette_on_black, _affine_maps)}[method]
    def normalized_chunk(start: int) -> np.ndarray:
        chunk = prepare(images[start:start + _CHUNK])
        return _warp(chunk, *windows(chunk))

    starts = range(0, len(images), _CHUNK)
    out = np.empty_like(images)
    for start, chunk in zip(starts, map_in_order(normalized_chunk, starts)):
        out[start:start + len(chunk)] = chunk
    return out


def _silhouette_on_black(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` -> each drawing's filled silhouette, bright on black (``silhouette``'s input)."""
    return fill_silhouettes(ink_on_black(images))


def normalize_handwriting(images: np.ndarray) -> np.ndarray:
    """Normalisation by the ink's bounding box (``box``)."""
    return normalize_images(images, "box")


def normalize_moments(images: np.ndarray) -> np.ndarray:
    """Normalisation by the ink's centre of mass and RMS radius (``moments``)."""
    return normalize_images(images, "moments")


def _box_maps(images: np.ndarray):
    """``(centre [N, 2] (x, y), matrix [N, 2, 2], blank [N])`` of the map around each ink bounding box."""
    size = images.shape[1]
    top, left, bottom, right = content_boxes(images).T.astype(np.float32)
    side = np.maximum(bottom - top, right - left) / INNER_FRACTION
    blank = side == 0
    centre = np.stack([(left + right) / 2, (top + bottom) / 2], axis=1)
    return centre, _scaled_identity(side / size), blank


def _ink_moments(images: np.ndarray):
    """Centre of mass ``[N, 2]`` (x, y; pixel-edge coordinates), covariance ``[N, 2, 2]`` (pixels^2) and
    blank ``[N]`` of each image's ink (levels above :data:`THRESHOLD` of its brightest pixel)."""
    size = images.shape[1]
    level = np.where(ink_mask(images), images.max(axis=-1).astype(np.float32), 0.0)
    mass = level.sum(axis=(1, 2))
    blank = mass == 0
    weights = level / np.where(blank, 1.0, mass)[:, None, None]
    coords = np.arange(size, dtype=np.float32) + 0.5
    mean_x = (weights.sum(axis=1) * coords).sum(axis=1)
    mean_y = (weights.sum(axis=2) * coords).sum(axis=1)
    dx = coords[None, None, :] - mean_x[:, None, None]
    dy = coords[None, :, None] - mean_y[:, None, None]
    covariance = np.stack([np.stack([(weights * dx * dx).sum(axis=(1, 2)), (weights * dx * dy).sum(axis=(1, 2))], -1),
                           np.stack([(weights * dx * dy).sum(axis=(1, 2)), (weights * dy * dy).sum(axis=(1, 2))], -1)],
                          axis=1)
    return np.stack([mean_x, mean_y], axis=1), covariance, blank


def _moment_maps(images: np.ndarray):
    size = images.shape[1]
    centre, covariance, blank = _ink_moments(images)
    radius = np.sqrt(np.trace(covariance, axis1=1, axis2=2))
    blank |= radius == 0
    return centre, _scaled_identity(radius / (RADIUS_FRACTION * size)), blank


def _affine_maps(images: np.ndarray):
    size = images.shape[1]
    centre, covariance, blank = _ink_moments(images)
    values, vectors = np.linalg.eigh(covariance + _MIN_VARIANCE * np.eye(2, dtype=np.float32))
    square_root = vectors @ (np.sqrt(values)[..., None] * np.swapaxes(vectors, 1, 2))
    # Output ink covariance (r^2 / 2) I, r = RADIUS_FRACTION * size: matrix @ matrix.T = covariance / (r^2 / 2).
    return centre, square_root / (RADIUS_FRACTION * size / np.sqrt(2.0)), blank


def _scaled_identity(scale: np.ndarray) -> np.ndarray:
    return scale[:, None, None] * np.eye(2, dtype=np.float32)


def _warp(images: np.ndarray, centre: np.ndarray, matrix: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """Resample each image so that output point ``d`` from the frame's centre shows input point
    ``centre + matrix @ d`` (pixel-edge coordinates, (x, y) order), bilinearly, black outside."""
    size = images.shape[1]
    offset = 0.5 - size / 2  # index j has its pixel centre at j + 0.5: d = j + offset
    a = matrix[:, 0, 0], matrix[:, 0, 1], centre[:, 0] - 0.5 + (matrix[:, 0, 0] + matrix[:, 0, 1]) * offset
    b = matrix[:, 1, 0], matrix[:, 1, 1], centre[:, 1] - 0.5 + (matrix[:, 1, 0] + matrix[:, 1, 1]) * offset
    transforms = np.stack([*a, *b, np.zeros(len(images)), np.zeros(len(images))], axis=1).astype(np.float32)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32), transforms=transforms, output_shape=[size, size], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    return np.where(blank[:, None, None, None], images, np.clip(warped.numpy() + 0.5, 0, 255).astype(np.uint8))
