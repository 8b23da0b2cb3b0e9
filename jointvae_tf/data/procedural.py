"""Four Shapes rendered procedurally: circle, square, star, triangle, white on black, with known factors.

Coordinates are in half-image-side units: ``[-1, 1]`` spans the image, ``x`` grows rightwards and ``y``
downwards, so a shape's geometry does not depend on the pixel size it is drawn at. Every image is drawn at
once on the pixel grid from a signed distance to the shape's edge (negative inside), with a one-pixel soft
edge for antialiasing. A little nuisance variation makes the drawings look hand-made, like the Kaggle
"Four Shapes" photographs: a random stretch and shear of the shape's own frame, a wavy edge, the stroke
brightness and pixel noise. These are not factors.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jointvae_tf.data.info import FOUR_SHAPES, Examples
from jointvae_tf.data.parallel import map_in_order
from jointvae_tf.data.resize import to_channels
from jointvae_tf.data.splits import Selection
from jointvae_tf.progress import Progress, tracked

SYMMETRY = (0, 4, 5, 3)
"""Rotational symmetry order of each shape (0: a circle, whose rotation is always 0)."""
ALL_SHAPES = tuple(range(len(FOUR_SHAPES)))
"""Label ids of every shape class."""
SPLIT_SIZES = {"train": 20_000, "validation": 2_000, "test": 2_000}
_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}
_CHUNK = 256
FILLED_FRACTION = 1.0
"""Share of filled silhouettes among sampled shapes. The Kaggle photographs are poster-board shapes
segmented by colour, so they are all filled; ``render_shapes`` still draws outlines for parameters that
ask for them. Measured with one outline in ten, the outlines took a discrete category of their own."""


@dataclasses.dataclass(frozen=True)
class ShapeParams:
    """Per-image drawing parameters, each a float32 array ``[N]`` (``shape``: int ids into FOUR_SHAPES).

    Factors: ``scale`` is the circumradius (half-sides); ``rotation`` is in radians in
    ``[0, 2 pi / symmetry)``; ``x``, ``y`` the centre (half-sides).
    Nuisances: ``filled`` (1 for a filled shape, 0 for an outline; see :data:`FILLED_FRACTION`) and
    ``thickness`` (the outline's stroke width in half-sides, 0 when filled), ``stretch`` (log aspect) and
    ``shear`` of the shape's frame, ``wobble`` (edge waviness as a fraction of ``scale``) and its phase,
    ``star_inner`` (inner / outer radius of stars), ``brightness`` (stroke level in ``[0, 1]``) and ``noise``
    (standard deviation of the additive pixel noise, ``[0, 1]``).
    """

    shape: np.ndarray
    scale: np.ndarray
    rotation: np.ndarray
    x: np.ndarray
    y: np.ndarray
    filled: np.ndarray
    thickness: np.ndarray
    stretch: np.ndarray
    shear: np.ndarray
    wobble: np.ndarray
    wobble_phase: np.ndarray
    star_inner: np.ndarray
    brightness: np.ndarray
    noise: np.ndarray

    def __len__(self) -> int:
        return len(self.shape)

    def take(self, index: np.ndarray) -> "ShapeParams":
        """The parameters of images ``index`` (any numpy index)."""
        return ShapeParams(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def factors(self) -> np.ndarray:
        """float32 ``[N, 5]`` in the order of ``info.SHAPE_FACTORS`` (fill and stroke are nuisances)."""
        return np.stack([self.shape, self.scale, self.rotation, self.x, self.y], axis=1).astype(np.float32)


def sample_shapes(num: int, rng: np.random.Generator, shapes: tuple[int, ...] = ALL_SHAPES) -> ShapeParams:
    """Draw ``num`` shapes of the classes ``shapes`` (ids into FOUR_SHAPES): classes exactly balanced (up
    to ``num % len(shapes)``) in random order, sizes from small to filling most of the frame, anywhere
    they fit, most of them filled."""
    shape = rng.permutation(np.asarray(shapes)[np.arange(num) % len(shapes)])
    uniform = lambda low, high: rng.uniform(low, high, num).astype(np.float32)
    scale = uniform(0.25, 0.85)
    period = np.where(shape == 0, 0.0, 2 * np.pi / np.maximum(np.take(SYMMETRY, shape), 1))
    travel = np.maximum(0.95 - 1.15 * scale, 0.0)
    filled = (rng.random(num) < FILLED_FRACTION).astype(np.float32)
    return ShapeParams(
        shape=shape.astype(np.int32), scale=scale,
        rotation=(rng.random(num) * period).astype(np.float32),
        x=uniform(-1, 1) * travel, y=uniform(-1, 1) * travel,
        filled=filled, thickness=np.where(filled == 1, 0.0, uniform(0.06, 0.16)).astype(np.float32),
        stretch=uniform(-0.2, 0.2), shear=uniform(-0.15, 0.15),
        wobble=uniform(0.0, 0.05), wobble_phase=uniform(0, 2 * np.pi),
        star_inner=uniform(0.38, 0.5), brightness=uniform(0.8, 1.0), noise=uniform(0.0, 0.03))


def render_shapes(params: ShapeParams, image_size: int, seed: int = 0) -> np.ndarray:
    """Draw ``params`` as uint8 ``[N, image_size, image_size, 1]``; ``seed`` drives the pixel noise only."""
    images = np.empty((len(params), image_size, image_size, 1), np.uint8)
    noise_rng = np.random.default_rng(seed)
    progress = Progress(f"Rendering {len(params)} shapes at {image_size}x{image_size}", len(params), "image")
    starts = range(0, len(params), _CHUNK)

    def coverage_of(start: int) -> np.ndarray:
        chunk = params.take(np.arange(start, min(start + _CHUNK, len(params))))
        coverage = np.empty((len(chunk), image_size, image_size), np.float32)
        for shape_id in range(len(FOUR_SHAPES)):
            mine = chunk.shape == shape_id
            if mine.any():
                coverage[mine] = _coverage(chunk.take(mine), image_size)
        return coverage * chunk.brightness[:, None, None]

    levels = tracked(map_in_order(coverage_of, starts), progress, units=len)
    for start, level in zip(starts, levels):  # the noise in the chunks' order: the same images on any machine
        level += noise_rng.standard_normal(level.shape, np.float32) * params.noise[start:start + len(level), None, None]
        images[start:start + len(level), :, :, 0] = np.clip(level * 255 + 0.5, 0, 255).astype(np.uint8)
    return images


def render_split(split: str, num: int | None, image_size: int, seed: int = 0,
                 shapes: tuple[int, ...] = ALL_SHAPES) -> Examples:
    """The procedural ``split`` ("train" | "validation" | "test") of the classes ``shapes``: disjoint random
    streams of one generator. Labels are ids into FOUR_SHAPES.

    ``num`` defaults to :data:`SPLIT_SIZES`; the same ``(split, num, seed, shapes)`` always gives the same images.
    """
    rng = np.random.default_rng([seed, _SPLIT_STREAMS[split]])
    params = sample_shapes(SPLIT_SIZES[split] if num is None else num, rng, shapes)
    images = render_shapes(params, image_size, seed=int(rng.integers(2**31)))
    return Examples(images, params.shape.astype(np.int32), params.factors(), FOUR_SHAPES)


def read_split(selection: Selection, image_size: int, channels: int) -> Examples:
    """The rendered split of ``selection`` (of its classes) at ``image_size`` with ``channels``:
    ``max_examples`` sets the train size (default :data:`SPLIT_SIZES`) and caps validation and test."""
    full = SPLIT_SIZES[selection.split]
    count = selection.max_examples if selection.split == "train" else min(selection.max_examples or full, full)
    examples = render_split(selection.split, count, image_size, selection.seed,
                            selection.classes or ALL_SHAPES)
    examples.images = to_channels(examples.images, channels)
    examples.labels = selection.relabel(examples.labels)
    return examples


def _coverage(params: ShapeParams, image_size: int) -> np.ndarray:
    """Fraction of each pixel covered by the ink, float32 ``[N, S, S]``, for shapes all of one class."""
    p = {f.name: getattr(params, f.name)[:, None, None] for f in dataclasses.fields(params)}
    grid = ((np.arange(image_size, dtype=np.float32) + 0.5) * (2.0 / image_size) - 1.0)
    dx, dy = grid[None, None, :] - p["x"], grid[None, :, None] - p["y"]
    cos, sin = np.cos(p["rotation"]), np.sin(p["rotation"])
    along, across = cos * dx + sin * dy, cos * dy - sin * dx
    v = across * np.exp(p["stretch"])
    u = (along - p["shear"] * v) * np.exp(-p["stretch"])
    radius = np.sqrt(u * u + v * v)
    distance = _SIGNED_DISTANCE[int(params.shape[0])](u, v, radius, p)
    distance += p["scale"] * p["wobble"] * _sin_3_angle_plus(u, v, radius, p["wobble_phase"])
    half_stroke = 0.5 * p["thickness"]
    distance = np.where(p["filled"] > 0, distance, np.abs(distance + half_stroke) - half_stroke)
    return np.clip(0.5 - distance * (image_size / 2.0), 0.0, 1.0)


def _sin_3_angle_plus(u, v, radius, phase):
    """``sin(3 theta + phase)`` of the point's polar angle theta, from its coordinates (no arctan)."""
    cos, sin = u / np.maximum(radius, 1e-6), v / np.maximum(radius, 1e-6)
    return sin * (3 - 4 * sin * sin) * np.cos(phase) + cos * (4 * cos * cos - 3) * np.sin(phase)


def _circle(u, v, radius, p):
    return radius - p["scale"]


def _regular_polygon(sides: int):
    """Signed distance to a regular polygon with an edge facing angle 0: the largest projection on the
    edge normals minus the apothem (exact inside and on the edge)."""
    normals = [(np.cos(k * 2 * np.pi / sides), np.sin(k * 2 * np.pi / sides)) for k in range(sides)]

    def distance(u, v, radius, p):
        projection = np.maximum.reduce([nx * u + ny * v for nx, ny in normals])
        return projection - p["scale"] * np.cos(np.pi / sides)

    return distance


def _star(u, v, radius, p, points: int = 5):
    """Signed distance to a star with a tip at angle 0 and inner vertices at ``star_inner * scale``."""
    sector = 2 * np.pi / points
    folded = np.mod(np.arctan2(v, u), sector)
    folded = np.minimum(folded, sector - folded)
    qx, qy = radius * np.cos(folded) - p["scale"], radius * np.sin(folded)
    ex = p["scale"] * (p["star_inner"] * np.cos(sector / 2) - 1.0)
    ey = p["scale"] * p["star_inner"] * np.sin(sector / 2)
    t = np.clip((qx * ex + qy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    edge = np.hypot(qx - t * ex, qy - t * ey)
    return np.where(ex * qy - ey * qx > 0, -edge, edge)


_SIGNED_DISTANCE = (_circle, _regular_polygon(4), _star, _regular_polygon(3))
