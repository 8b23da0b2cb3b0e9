"""Pictures from decoded images: grids, row labels, upscaling, and atomic PNG / GIF files.

Images come in as ``[N, height, width, channels]`` float in [0, 1] (what a decoder returns) or uint8;
pictures go out as uint8 ``[height, width, channels]`` pixel arrays with 1 (grey), 3 (RGB) or 4 (RGBA)
channels. Files are written by imageio (its Pillow plugin) to ``path + ".tmp"`` and renamed, so a reader
never sees half a file.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jointvae_tf.data.pixels import to_uint8
from jointvae_tf.errors import JointVAEError

LABEL_COLOR = 0
INACTIVE_LABEL_COLOR = 160
LABEL_BACKGROUND = 255
LABEL_MARGIN = 4


def image_grid(images, rows: int, cols: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile images row-major into a ``rows x cols`` grid with ``padding`` pixels around every cell.

    Args:
      images: ``[N, H, W, C]`` float in [0, 1] or uint8, ``N <= rows * cols``; missing cells at the end
        are left at ``pad_value``.
      rows, cols: grid size in cells. padding: gutter width in pixels, also around the border.
      pad_value: grey level 0..255 of gutters and empty cells.

    Returns:
      uint8 ``[rows * H + (rows + 1) * padding, cols * W + (cols + 1) * padding, C]``.
    """
    images = to_uint8(images)
    if images.ndim != 4:
        raise JointVAEError(f"images: expected [N, height, width, channels], got shape {images.shape}")
    if rows < 1 or cols < 1 or len(images) > rows * cols or padding < 0:
        raise JointVAEError(f"image grid: {len(images)} images do not fit {rows} x {cols} cells "
                            f"(padding {padding})")
    n, h, w, c = images.shape
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.uint8)
    for index, image in enumerate(images):
        top = padding + (index // cols) * (h + padding)
        left = padding + (index % cols) * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid


def reconstruction_grid(originals, reconstructions, cols: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Rows of originals, each followed by the row of their reconstructions.

    Args:
      originals, reconstructions: ``[N, H, W, C]`` float in [0, 1] or uint8, example ``n`` of one
        reconstructing example ``n`` of the other.
      cols: examples per row; a last partial row pair is padded with ``pad_value`` cells.

    Returns:
      uint8 grid (see :func:`image_grid`) of ``2 * ceil(N / cols)`` rows and ``cols`` columns.
    """
    originals, reconstructions = to_uint8(originals), to_uint8(reconstructions)
    if originals.shape != reconstructions.shape or originals.ndim != 4:
        raise JointVAEError(f"reconstruction grid: expected originals and reconstructions of one shape "
                            f"[N, height, width, channels], got {originals.shape} and {reconstructions.shape}")
    if cols < 1:
        raise JointVAEError(f"cols: expected an integer >= 1, got {cols}")
    pairs = -(-len(originals) // cols)
    blank = np.full((pairs * cols - len(originals), *originals.shape[1:]), pad_value, np.uint8)
    rows = [np.concatenate([images, blank]).reshape(pairs, cols, *originals.shape[1:])
            for images in (originals, reconstructions)]
    interleaved = np.stack(rows, axis=1).reshape(-1, *originals.shape[1:])
    return image_grid(interleaved, 2 * pairs, cols, padding, pad_value)


def upscale(image, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``[H, W]`` or ``[H, W, C]`` by an integer ``factor`` per side."""
    image = np.asarray(image)
    if int(factor) != factor or factor < 1 or image.ndim not in (2, 3):
        raise JointVAEError(f"upscale: expected an [H, W(, C)] image and an integer factor >= 1, "
                            f"got shape {image.shape} and {factor}")
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def label_rows(grid, row_labels: Sequence[str], padding: int = 2,
               inactive: Sequence[bool] | None = None) -> np.ndarray:
    """Add a strip at the left of a grid with one text label per row (PIL's default font).

    Args:
      grid: uint8 ``[H, W, C]`` from :func:`image_grid` with ``len(row_labels)`` rows of cells. Upscale
        it first when cells are tiny: a label is about 11 pixels high.
      padding: the grid's gutter in pixels (times the :func:`upscale` factor when upscaled).
      row_labels: e.g. ``"z3 KL=2.1"``, top to bottom.
      inactive: ``[rows]`` bool, optional; ``True`` rows (e.g. dims with KL below threshold, see
        ``metrics.active_dimensions``) get a grey label instead of a black one.

    Returns:
      uint8 ``[H, strip + W, C]`` with a white strip just wide enough for the longest label.
    """
    grid = np.asarray(grid)
    rows = len(row_labels)
    if grid.dtype != np.uint8 or grid.ndim != 3 or not rows or (grid.shape[0] - padding) % rows:
        raise JointVAEError(f"label_rows: expected a uint8 [H, W, C] grid of {rows} rows with padding "
                            f"{padding}, got {grid.dtype} {grid.shape}")
    inactive = [False] * rows if inactive is None else list(inactive)
    if len(inactive) != rows:
        raise JointVAEError(f"inactive: expected one flag per row ({rows}), got {len(inactive)}")
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [measure.textbbox((0, 0), label, font=font) for label in row_labels]
    strip_width = max(right for _, _, right, _ in boxes) + 2 * LABEL_MARGIN
    strip = Image.new("L", (strip_width, grid.shape[0]), LABEL_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    row_height = (grid.shape[0] - padding) // rows
    for row, (label, (_, top, _, bottom), grey) in enumerate(zip(row_labels, boxes, inactive)):
        centre = padding + row * row_height + (row_height - padding) / 2
        draw.text((LABEL_MARGIN, centre - (top + bottom) / 2), label, font=font,
                  fill=INACTIVE_LABEL_COLOR if grey else LABEL_COLOR)
    strip = np.repeat(np.asarray(strip)[:, :, None], grid.shape[2], axis=2)
    if grid.shape[2] == 4:
        strip[:, :, 3] = 255
    return np.concatenate([strip, grid], axis=1)


def save_png(path: str, image) -> None:
    """Write a uint8 ``[H, W]`` or ``[H, W, C]`` image (C in 1, 3, 4) as PNG, atomically."""
    pixels = _checked_pixels(image)
    _write_atomic(path, lambda tmp: iio.imwrite(tmp, pixels, extension=".png"))


def save_gif(path: str, frames: Sequence[np.ndarray], fps: float = 10.0) -> None:
    """Write uint8 frames (each ``[H, W]`` or ``[H, W, C]``, one shape) as a looping GIF, atomically.

    Each frame shows ``1 / fps`` seconds. Pillow merges identical consecutive frames into one that
    lasts their total time, so the loop keeps its timing but the file may hold fewer frames.
    """
    if not len(frames) or len({np.shape(f) for f in frames}) != 1 or fps <= 0:
        raise JointVAEError(f"save_gif: expected at least one frame, all of one shape, and fps > 0; got "
                            f"{len(frames)} frames of shapes {sorted({np.shape(f) for f in frames})} at fps {fps}")
    pixels = np.stack([_checked_pixels(frame) for frame in frames])
    _write_atomic(path, lambda tmp: iio.imwrite(tmp, pixels, extension=".gif", is_batch=True,
                                                duration=round(1000 / fps), loop=0))


def _checked_pixels(image) -> np.ndarray:
    """uint8 ``[H, W]`` (grey, also from ``[H, W, 1]``) or ``[H, W, 3|4]`` (RGB, RGBA) pixels of ``image``."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise JointVAEError(f"image: expected uint8 [H, W] or [H, W, 1|3|4], got {image.dtype} {image.shape}")
    return image


def _write_atomic(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(path + ".tmp")`` then rename the result to ``path``; remove the temporary on failure."""
    tmp = f"{path}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
