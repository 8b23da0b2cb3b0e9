"""Four shapes drawn in many styles, in the Kaggle layout: the DEVELOPMENT source of shapes recipes.

For choosing shapes recipes only, never for reporting them. The built-in generator
(``jointvae_tf.data.procedural``) draws filled bright silhouettes on black, so a recipe chosen on it never
meets an outline, a hatched fill or a sheet of paper. This script draws the same four shapes (geometry
from ``procedural.sample_shapes``, edges from ``procedural.render_shapes``) in styles a person with a pen,
a scanner or a camera produces, each image drawn independently:

- geometry: sizes from small (circumradius 0.18 half-sides) to filling most of the frame, anywhere the
  shape fits, any rotation, a little stretch, shear and a wavier, hand-drawn edge than the generator's;
- drawing: a filled silhouette (30 %), an outline (40 %; strokes 0.06-0.22 half-sides, about 1-3.5 px at
  32 px), or an outline with a hatched fill (30 %; parallel lines at any angle and spacing, crossed in
  four hatchings of ten);
- paper: bright ink on black (35 %), bright ink on a grey ground (25 %) or dark ink on light paper
  (40 %); a smooth paper texture and pixel noise of random strength; a blur in three images of ten;
- occlusion: in one image of four, a bar or a blob over part of the shape, at a level between the ground
  and the ink;
- file size: 32, 48, 64 or 100 px square grey PNGs (a quarter each), so the loader's resize is used.

Classes are balanced (``sample_shapes``); one seed fixes everything. ``--dataset four_shapes --data-dir
OUT`` reads ``OUT/shapes/{circle,square,star,triangle}/NNNNN.png`` and carves validation and test from
them (10 % each: 4,000 / 500 / 500 of the default 5,000).

    python scripts/dev_shapes.py --out data/dev_shapes --sheet shapes-dev-styles.png
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np
from PIL import Image, ImageFilter

from jointvae_tf.data import procedural
from jointvae_tf.data.info import FOUR_SHAPES
from jointvae_tf.data.resize import fit_images
from jointvae_tf.viz.pictures import image_grid, label_rows, save_png

FILE_SIZES = (32, 48, 64, 100)
DRAWINGS = {"filled": 0.3, "outline": 0.4, "hatched": 0.3}
PAPERS = {"black": 0.35, "grey": 0.25, "light": 0.4}
OCCLUDED, BLURRED, CROSSED = 0.25, 0.3, 0.4
"""Shares of images occluded, blurred, and of hatched fills crossed by a second set of lines."""


@dataclasses.dataclass(frozen=True)
class Styles:
    """Per-image drawing style, arrays ``[N]``: ``drawing`` and ``paper`` (indices into :data:`DRAWINGS`
    and :data:`PAPERS`), ``size`` (file side, px), ``stroke`` (outline width, half-sides), hatch ``angle``
    (radians), ``spacing`` (half-sides) and ``crossed``, ``ground`` and ``ink`` levels in [0, 1], paper
    ``texture`` and pixel ``noise`` (standard deviations, [0, 1]), ``blur`` (Gaussian radius, px; 0 for
    none), and ``occluder`` (0 none, 1 bar, 2 blob) with its centre ``occluder_x``, ``occluder_y``, its
    ``occluder_angle``, ``occluder_length`` and ``occluder_width`` (half-sides) and its ``occluder_level``."""

    drawing: np.ndarray
    paper: np.ndarray
    size: np.ndarray
    stroke: np.ndarray
    angle: np.ndarray
    spacing: np.ndarray
    crossed: np.ndarray
    ground: np.ndarray
    ink: np.ndarray
    texture: np.ndarray
    noise: np.ndarray
    blur: np.ndarray
    occluder: np.ndarray
    occluder_x: np.ndarray
    occluder_y: np.ndarray
    occluder_angle: np.ndarray
    occluder_length: np.ndarray
    occluder_width: np.ndarray
    occluder_level: np.ndarray


def sample(num: int, rng: np.random.Generator) -> tuple[procedural.ShapeParams, Styles]:
    """The geometry and style of ``num`` images, classes balanced, in random order."""
    params = procedural.sample_shapes(num, rng)
    uniform = lambda low, high: rng.uniform(low, high, num).astype(np.float32)
    scale = uniform(0.18, 0.85)
    travel = np.maximum(0.95 - 1.1 * scale, 0.0)
    params = dataclasses.replace(params, scale=scale, x=uniform(-1, 1) * travel, y=uniform(-1, 1) * travel,
                                 wobble=uniform(0.0, 0.06), brightness=np.ones(num, np.float32),
                                 noise=np.zeros(num, np.float32))
    drawing = rng.choice(len(DRAWINGS), num, p=list(DRAWINGS.values()))
    paper = rng.choice(len(PAPERS), num, p=list(PAPERS.values()))
    ground = np.select([paper == 0, paper == 1], [uniform(0.0, 0.08), uniform(0.2, 0.5)], uniform(0.7, 1.0))
    ink = np.select([paper == 0, paper == 1], [uniform(0.7, 1.0), ground + uniform(0.3, 0.5)], uniform(0.0, 0.35))
    occluder = np.where(rng.random(num) < OCCLUDED, rng.integers(1, 3, num), 0)
    # The occluder's centre lies on or near the shape's edge, so it hides a part of the shape, not all.
    direction = uniform(0, 2 * np.pi)
    reach = scale * uniform(0.6, 1.1)
    styles = Styles(
        drawing=drawing, paper=paper, size=rng.choice(FILE_SIZES, num), stroke=uniform(0.06, 0.22),
        angle=uniform(0, np.pi), spacing=uniform(0.15, 0.35), crossed=rng.random(num) < CROSSED,
        ground=ground.astype(np.float32), ink=np.clip(ink, 0, 1).astype(np.float32),
        texture=uniform(0.0, 0.06), noise=uniform(0.0, 0.06),
        blur=np.where(rng.random(num) < BLURRED, uniform(0.3, 0.9), 0.0).astype(np.float32),
        occluder=occluder, occluder_x=params.x + reach * np.cos(direction),
        occluder_y=params.y + reach * np.sin(direction), occluder_angle=uniform(0, np.pi),
        occluder_length=scale * uniform(0.8, 1.6), occluder_width=scale * uniform(0.15, 0.35),
        occluder_level=uniform(0.0, 0.6))
    return params, styles


def draw(params: procedural.ShapeParams, styles: Styles, rng: np.random.Generator) -> list[np.ndarray]:
    """The images, uint8 ``[size, size]`` each (sizes from ``styles.size``), in the order of ``params``."""
    images: list[np.ndarray | None] = [None] * len(params)
    for size in FILE_SIZES:
        index = np.flatnonzero(styles.size == size)
        if len(index) == 0:
            continue
        style = Styles(**{f.name: getattr(styles, f.name)[index] for f in dataclasses.fields(Styles)})
        for i, image in zip(index, _draw_size(params.take(index), style, int(size), rng)):
            images[i] = image
    return images


def _draw_size(params: procedural.ShapeParams, style: Styles, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[N, size, size]`` of images that are all ``size`` px."""
    num = len(params)
    filled = _coverage(dataclasses.replace(params, filled=np.ones(num, np.float32),
                                           thickness=np.zeros(num, np.float32)), size)
    outline = _coverage(dataclasses.replace(params, filled=np.zeros(num, np.float32), thickness=style.stroke), size)
    drawing = style.drawing[:, None, None]
    ink = np.where(drawing == 0, filled, outline)
    lines = _lines(style.angle, style.spacing, size)
    lines = np.where(style.crossed[:, None, None], np.maximum(lines, _lines(style.angle + np.pi / 2.5, style.spacing,
                                                                            size)), lines)
    ink = np.where(drawing == 2, np.maximum(outline, filled * lines), ink)
    level = style.ground[:, None, None] + (style.ink - style.ground)[:, None, None] * ink
    covered = _occluder_coverage(style, size)
    occluder_level = style.ground + style.occluder_level * (style.ink - style.ground)
    level += covered * (occluder_level[:, None, None] - level)
    level += style.texture[:, None, None] * _smooth_noise(num, size, rng)
    level += style.noise[:, None, None] * rng.standard_normal(level.shape).astype(np.float32)
    images = np.clip(level * 255 + 0.5, 0, 255).astype(np.uint8)
    for i in np.flatnonzero(style.blur):
        blurred = Image.fromarray(images[i]).filter(ImageFilter.GaussianBlur(float(style.blur[i]) * size / 32))
        images[i] = np.asarray(blurred)
    return images


def _coverage(params: procedural.ShapeParams, size: int) -> np.ndarray:
    """Fraction of each pixel the shape's ink covers, float32 ``[N, size, size]`` (brightness 1, no noise)."""
    return procedural.render_shapes(params, size)[..., 0].astype(np.float32) / 255.0


def _grid(size: int) -> np.ndarray:
    """Pixel-centre coordinates in half-sides, ``[size]`` from about -1 to 1 (as ``procedural``)."""
    return ((np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0)


def _lines(angle: np.ndarray, spacing: np.ndarray, size: int) -> np.ndarray:
    """Antialiased parallel lines, float32 ``[N, size, size]``: across direction ``angle`` every ``spacing``
    half-sides, each a third of the spacing wide."""
    grid = _grid(size)
    across = (np.cos(angle)[:, None, None] * grid[None, None, :] + np.sin(angle)[:, None, None] * grid[None, :, None])
    phase = across / spacing[:, None, None]
    distance = np.abs(phase - np.round(phase)) * spacing[:, None, None]  # half-sides to the nearest line
    return np.clip(0.5 - (distance - spacing[:, None, None] / 6) * (size / 2.0), 0.0, 1.0).astype(np.float32)


def _occluder_coverage(style: Styles, size: int) -> np.ndarray:
    """Coverage of each image's bar or blob, float32 ``[N, size, size]`` (0 where there is none)."""
    grid = _grid(size)
    dx = grid[None, None, :] - style.occluder_x[:, None, None]
    dy = grid[None, :, None] - style.occluder_y[:, None, None]
    cos, sin = np.cos(style.occluder_angle)[:, None, None], np.sin(style.occluder_angle)[:, None, None]
    along, across = cos * dx + sin * dy, cos * dy - sin * dx
    half_length, half_width = style.occluder_length[:, None, None] / 2, style.occluder_width[:, None, None] / 2
    bar = np.maximum(np.abs(along) - half_length, np.abs(across) - half_width)
    blob = np.hypot(along / 1.3, across) - half_width * 1.5
    distance = np.where(style.occluder[:, None, None] == 1, bar, blob)
    covered = np.clip(0.5 - distance * (size / 2.0), 0.0, 1.0)
    return np.where(style.occluder[:, None, None] > 0, covered, 0.0).astype(np.float32)


def _smooth_noise(num: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Paper texture: unit-variance Gaussian noise on a coarse 9x9 grid, enlarged bicubically, ``[N, size, size]``."""
    coarse = rng.standard_normal((num, 9, 9)).astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BICUBIC))
                     for c in coarse])


def render(count: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """``count`` images drawn from ``default_rng(seed)``: int labels ``[count]`` (ids into FOUR_SHAPES) and
    uint8 ``[size, size]`` images."""
    rng = np.random.default_rng(seed)
    params, styles = sample(count, rng)
    return params.shape, draw(params, styles, rng)


def write_folder(out: str, labels: np.ndarray, images: list[np.ndarray]) -> dict[str, int]:
    """Write ``images`` into ``out/shapes/CLASS/NNNNN.png`` (NNNNN: the image's number); returns the number
    of images per class."""
    for name in FOUR_SHAPES:
        os.makedirs(os.path.join(out, "shapes", name), exist_ok=True)
    for number, (label, image) in enumerate(zip(labels, images)):
        Image.fromarray(image).save(os.path.join(out, "shapes", FOUR_SHAPES[label], f"{number:05d}.png"))
    return {name: int(np.sum(labels == label)) for label, name in enumerate(FOUR_SHAPES)}


def style_sheet(labels: np.ndarray, images: list[np.ndarray], per_class: int = 12, side: int = 64) -> np.ndarray:
    """uint8 picture of the first ``per_class`` images of each class, each fitted to ``side`` px, one
    labelled row per class."""
    rows = [np.flatnonzero(labels == label)[:per_class] for label in range(len(FOUR_SHAPES))]
    cells = np.stack([fit_images(images[i][None, :, :, None], side, 1)[0] for row in rows for i in row])
    return label_rows(image_grid(cells, len(FOUR_SHAPES), per_class, padding=2), FOUR_SHAPES, padding=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="Folder to write shapes/CLASS/NNNNN.png into.")
    parser.add_argument("--count", type=int, default=5_000, help="Images in all (4,000 train at the loader's 10 %% "
                                                                 "validation and 10 %% test).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", help="Also write a PNG of 12 images of each class here.")
    args = parser.parse_args()
    if args.count < len(FOUR_SHAPES):
        parser.error(f"--count: expected at least {len(FOUR_SHAPES)} images (one per class), got {args.count}")
    labels, images = render(args.count, args.seed)
    counts = write_folder(args.out, labels, images)
    print(f"Wrote {sum(counts.values())} images to {os.path.join(args.out, 'shapes')}: "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if args.sheet:
        save_png(args.sheet, style_sheet(labels, images))
        print(f"Wrote {args.sheet}")


if __name__ == "__main__":
    main()
