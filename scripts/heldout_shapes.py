"""Held-out four-shapes images for evaluation only, in the Kaggle "Four Shapes" layout.

Written without looking at the development generator (``jointvae_tf.data.procedural``) so that recipes
chosen on that generator are reported on shapes they were not shaped by. Writes
``OUT/shapes/{circle,square,star,triangle}/<n>.png``: 200x200 greyscale PNGs, light shapes on a dark
ground like the Kaggle download, which ``jvae-tf train --dataset four_shapes --data-dir OUT`` reads.

Every image has its own random stream (seed, class, index), so a folder is the same for a seed whatever
the count or style filter. Geometry: each shape is a closed outline (circle; square; triangle of varied
angles; star with 5, 6 or 7 points and varied spikiness) resampled along its perimeter, wobbled by smooth
random displacement as a hand would, stretched (aspect 0.8-1.25), rotated, scaled and placed anywhere
in the frame. Styles, mixed evenly unless ``--style`` picks one:

- ``outline``: a hand-drawn outline, 2 px to 12 px strokes, sometimes traced twice or left open.
- ``hatched``: an outline filled with parallel hatching lines.
- ``paper``: a filled shape shaded by a gradient on a blotchy, uneven ground (scanned paper), blurred.
- ``occluded``: a filled shape with 8-30 % of it covered by a bar or a blob.
- ``small``: a filled or outlined shape 28-64 px across, anywhere in the frame.

    python scripts/heldout_shapes.py --out data/heldout_shapes [--per-class 1000] [--seed 0]
    python scripts/heldout_shapes.py --out data/outlines --style outline --per-class 50
    python scripts/heldout_shapes.py --out data/sheet --contact-sheet sheet.png --per-class 12
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "square", "star", "triangle")
STYLES = ("outline", "hatched", "paper", "occluded", "small")
SIZE = 200  # pixels of a written image, as in the Kaggle download
SUPER = 2  # drawn at SUPER x SIZE, then box-averaged down: smooth edges
POINTS = 240  # outline points after resampling along the perimeter


def corners(shape: str, rng: np.random.Generator) -> np.ndarray:
    """Corner points ``[n, 2]`` of ``shape`` around the origin, radius about 1 (circle: many points)."""
    if shape == "circle":
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        return np.stack([np.cos(angles), np.sin(angles)], 1)
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.8
    if shape == "triangle":
        angles = np.deg2rad(np.array([90, 210, 330]) + rng.uniform(-18, 18, 3))
        radii = rng.uniform(0.85, 1.1, 3)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    points = rng.choice([5, 6, 7], p=[0.6, 0.25, 0.15])
    inner = rng.uniform(0.32, 0.55) if points == 5 else rng.uniform(0.4, 0.6)
    angles = np.linspace(0, 2 * np.pi, 2 * points, endpoint=False) + np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def resample(polygon: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced along the closed ``polygon`` ``[n, 2]``."""
    closed = np.concatenate([polygon, polygon[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    at = np.concatenate([[0], np.cumsum(lengths)])
    wanted = np.linspace(0, at[-1], count, endpoint=False)
    return np.stack([np.interp(wanted, at, closed[:, i]) for i in range(2)], 1)


def wobble(outline: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Displace each point of a closed outline ``[n, 2]`` by a smooth random periodic offset of about
    ``amount`` (same units), a few low frequencies per axis: an unsteady hand."""
    t = np.linspace(0, 2 * np.pi, len(outline), endpoint=False)[:, None]
    frequencies = np.arange(1, 6)
    phases = rng.uniform(0, 2 * np.pi, (2, len(frequencies)))
    weights = rng.normal(0, amount, (2, len(frequencies))) / frequencies
    offsets = [(weights[a] * np.sin(frequencies * t + phases[a])).sum(1) for a in range(2)]
    return outline + np.stack(offsets, 1)


def place(outline: np.ndarray, radius: tuple[float, float], margin: float, rng: np.random.Generator) -> np.ndarray:
    """Stretch, rotate, scale (radius in pixels of the written image) and move ``outline`` ``[n, 2]`` to a
    random place wholly inside the frame; returns pixel coordinates of the drawing canvas."""
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (outline * [aspect ** 0.5, aspect ** -0.5]) @ rotation.T * rng.uniform(*radius)
    low, high = points.min(0), points.max(0)
    span = SIZE - 2 * margin - (high - low)
    offset = margin - low + rng.uniform(0, 1, 2) * np.maximum(span, 0)
    return (points + offset) * SUPER


def shape_outline(shape: str, radius: tuple[float, float], margin: float, rng: np.random.Generator) -> np.ndarray:
    """A wobbled, placed outline of ``shape``: canvas pixel coordinates ``[POINTS, 2]``."""
    outline = wobble(resample(corners(shape, rng), POINTS), rng.uniform(0.01, 0.05), rng)
    return place(outline, radius, margin, rng)


def mask(draw_with) -> np.ndarray:
    """A float ``[canvas, canvas]`` coverage in [0, 1] of what ``draw_with(ImageDraw)`` paints in 255."""
    canvas = Image.new("L", (SIZE * SUPER, SIZE * SUPER), 0)
    draw_with(ImageDraw.Draw(canvas))
    return np.asarray(canvas, np.float32) / 255


def fill_mask(points: np.ndarray) -> np.ndarray:
    return mask(lambda d: d.polygon([tuple(p) for p in points], fill=255))


def stroke_mask(points: np.ndarray, width: float, rng: np.random.Generator) -> np.ndarray:
    """One or two hand-traced passes around ``points``; the pen may stop short or overshoot the start."""
    passes = 2 if rng.random() < 0.35 else 1

    def draw_with(d: ImageDraw.ImageDraw):
        for _ in range(passes):
            jittered = wobble(points, width * SUPER * 0.5, rng) if passes > 1 else points
            start = rng.integers(len(points))
            extra = rng.integers(-len(points) // 20, len(points) // 12)
            path = np.roll(jittered, -start, axis=0)
            path = np.concatenate([path, path[:max(extra, 0) + 1]])[:len(points) + 1 + min(extra, 0)]
            d.line([tuple(p) for p in path], fill=255, width=max(1, int(round(width * SUPER))), joint="curve")
    return mask(draw_with)


def hatch_mask(spacing: float, width: float, rng: np.random.Generator) -> np.ndarray:
    """Parallel lines over the whole canvas at a random angle, ``spacing`` and ``width`` in written pixels."""
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    centre, reach = SIZE * SUPER / 2, SIZE * SUPER

    def draw_with(d: ImageDraw.ImageDraw):
        for k in np.arange(-reach, reach, spacing * SUPER):
            wavy = k + rng.normal(0, spacing * SUPER * 0.1)
            a, b = centre + normal * wavy - direction * reach, centre + normal * wavy + direction * reach
            d.line([tuple(a), tuple(b)], fill=255, width=max(1, int(round(width * SUPER))))
    return mask(draw_with)


def smooth_noise(scale: float, rng: np.random.Generator) -> np.ndarray:
    """Blotchy noise ``[canvas, canvas]`` of unit standard deviation with blobs about ``scale`` written px."""
    field = Image.fromarray(rng.normal(128, 40, (SIZE * SUPER, SIZE * SUPER)).clip(0, 255).astype(np.uint8))
    field = np.asarray(field.filter(ImageFilter.GaussianBlur(scale * SUPER)), np.float32)
    return (field - field.mean()) / (field.std() + 1e-6)


def gradient(rng: np.random.Generator) -> np.ndarray:
    """A linear ramp ``[canvas, canvas]`` from -0.5 to 0.5 in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:SIZE * SUPER, 0:SIZE * SUPER] / (SIZE * SUPER) - 0.5
    ramp = np.cos(angle) * x + np.sin(angle) * y
    return ramp / (np.abs(ramp).max() * 2)


def ground(rng: np.random.Generator) -> np.ndarray:
    """A dark background: level 5-70, a gentle ramp and a little blotchiness."""
    return (rng.uniform(5, 70) + rng.uniform(0, 40) * gradient(rng)
            + rng.uniform(0, 8) * smooth_noise(rng.uniform(4, 20), rng))


def ink(rng: np.random.Generator) -> float:
    return float(rng.uniform(165, 255))


def draw_outline(shape: str, rng: np.random.Generator) -> np.ndarray:
    points = shape_outline(shape, (40, 90), 8, rng)
    width = rng.choice([rng.uniform(2, 3.5), rng.uniform(3.5, 7), rng.uniform(7, 12)])
    m = stroke_mask(points, width, rng)
    return ground(rng) * (1 - m) + ink(rng) * m


def draw_hatched(shape: str, rng: np.random.Generator) -> np.ndarray:
    points = shape_outline(shape, (45, 90), 8, rng)
    inside = fill_mask(points) * hatch_mask(rng.uniform(5, 11), rng.uniform(1.2, 3), rng)
    m = np.maximum(inside, stroke_mask(points, rng.uniform(2, 6), rng))
    return ground(rng) * (1 - m) + ink(rng) * m


def draw_paper(shape: str, rng: np.random.Generator) -> np.ndarray:
    points = shape_outline(shape, (40, 90), 6, rng)
    paper = ground(rng) + rng.uniform(8, 22) * smooth_noise(rng.uniform(1, 3), rng)
    light = ink(rng) + rng.uniform(20, 80) * gradient(rng) + rng.uniform(5, 15) * smooth_noise(2, rng)
    m = fill_mask(points)
    image = Image.fromarray((paper * (1 - m) + light * m).clip(0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 6) * SUPER)), np.float32)


def draw_occluded(shape: str, rng: np.random.Generator) -> np.ndarray:
    points = shape_outline(shape, (45, 90), 6, rng)
    m = fill_mask(points)
    area = m.sum()
    for _ in range(50):
        cover = occluder(points, rng)
        if 0.08 <= (cover * m).sum() / area <= 0.3:
            break
    back, light = ground(rng), ink(rng) + rng.uniform(0, 30) * gradient(rng)
    shade = rng.choice([rng.uniform(0, 40), rng.uniform(80, 130)])  # dark like the ground, or a mid grey
    return (back * (1 - m) + light * m) * (1 - cover) + shade * cover


def occluder(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Coverage of a bar across the frame or a blob, placed near the shape's centre (canvas pixels)."""
    centre = points.mean(0) + rng.normal(0, 25 * SUPER, 2)
    if rng.random() < 0.5:
        angle = rng.uniform(0, np.pi)
        direction, half = np.array([np.cos(angle), np.sin(angle)]), SIZE * SUPER
        width = int(rng.uniform(8, 28) * SUPER)
        return mask(lambda d: d.line([tuple(centre - direction * half), tuple(centre + direction * half)],
                                     fill=255, width=width))
    blob = wobble(resample(corners("circle", rng), POINTS), 0.15, rng) * rng.uniform(14, 32) * SUPER + centre
    return fill_mask(blob)


def draw_small(shape: str, rng: np.random.Generator) -> np.ndarray:
    points = shape_outline(shape, (14, 32), 4, rng)
    m = fill_mask(points) if rng.random() < 0.6 else stroke_mask(points, rng.uniform(2, 4), rng)
    return ground(rng) * (1 - m) + ink(rng) * m


DRAW = {"outline": draw_outline, "hatched": draw_hatched, "paper": draw_paper, "occluded": draw_occluded,
        "small": draw_small}


def render(shape: str, style: str, seed: int, index: int) -> np.ndarray:
    """Image ``index`` of class ``shape`` in ``style``: uint8 ``[SIZE, SIZE]``, deterministic for the arguments."""
    rng = np.random.default_rng([seed, CLASSES.index(shape), STYLES.index(style), index])
    canvas = DRAW[style](shape, rng) + rng.normal(0, rng.uniform(1, 6), (SIZE * SUPER, SIZE * SUPER))
    small = canvas.reshape(SIZE, SUPER, SIZE, SUPER).mean((1, 3))
    return small.clip(0, 255).round().astype(np.uint8)


def style_of(seed: int, index: int, styles: tuple[str, ...]) -> str:
    """The style of image ``index``: styles in turn, shuffled per block by the seed (even mix)."""
    block = np.random.default_rng([seed, index // len(styles)]).permutation(len(styles))
    return styles[block[index % len(styles)]]


def write_folder(out: str, per_class: int, seed: int, styles: tuple[str, ...]) -> None:
    for shape in CLASSES:
        folder = os.path.join(out, "shapes", shape)
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            image = render(shape, style_of(seed, index, styles), seed, index)
            Image.fromarray(image).save(os.path.join(folder, f"{index}.png"))


def contact_sheet(out: str, path: str, columns: int) -> None:
    """A sheet of the first ``columns`` images of each class (one row per class), at half size."""
    rows = []
    for shape in CLASSES:
        tiles = [np.asarray(Image.open(os.path.join(out, "shapes", shape, f"{i}.png")).reduce(2))
                 for i in range(columns)]
        rows.append(np.concatenate([np.pad(t, 1, constant_values=255) for t in tiles], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write shapes/<class>/<n>.png into")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", choices=STYLES, help="write this style only (default: all, mixed evenly)")
    parser.add_argument("--contact-sheet", help="also write a PNG of the first images of each class here")
    args = parser.parse_args()
    if args.per_class < 1:
        parser.error(f"--per-class: expected an integer >= 1, got {args.per_class}")
    write_folder(args.out, args.per_class, args.seed, (args.style,) if args.style else STYLES)
    print(f"{args.out}/shapes: {args.per_class} images per class, styles {args.style or ', '.join(STYLES)}")
    if args.contact_sheet:
        contact_sheet(args.out, args.contact_sheet, min(args.per_class, 15))
        print(f"contact sheet: {args.contact_sheet}")


if __name__ == "__main__":
    main()
