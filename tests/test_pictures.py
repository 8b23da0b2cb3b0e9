"""Specifications of image grids and the PNG / GIF files written from them."""

import os

import numpy as np
import pytest
from PIL import Image, ImageSequence

from jointvae_tf.data.pixels import to_uint8, to_unit_range
from jointvae_tf.errors import JointVAEError
from jointvae_tf.viz.pictures import (
    image_grid,
    label_rows,
    reconstruction_grid,
    save_gif,
    save_png,
    upscale,
)


def gradient_images(n, h=8, w=6, c=1):
    """``[n, h, w, c]`` float images in [0, 1], image ``i`` filled with ``i / n``."""
    return np.broadcast_to((np.arange(n) / n)[:, None, None, None], (n, h, w, c)).astype(np.float32)


def test_to_uint8_scales_clips_and_passes_uint8():
    np.testing.assert_array_equal(to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0])), [0, 0, 128, 255, 255])
    pixels = np.array([3, 200], np.uint8)
    assert to_uint8(pixels) is pixels
    with pytest.raises(JointVAEError):
        to_uint8(np.array([1, 2]))


def test_to_unit_range_divides_uint8_by_255_and_inverts_to_uint8():
    pixels = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
    unit = to_unit_range(pixels)
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0
    np.testing.assert_array_equal(to_uint8(unit), pixels)
    with pytest.raises(JointVAEError, match="uint8"):
        to_unit_range(unit)


@pytest.mark.parametrize("rows, cols, padding, channels", [(2, 3, 2, 1), (4, 1, 0, 3), (1, 5, 3, 3)])
def test_grid_size_in_pixels(rows, cols, padding, channels):
    grid = image_grid(gradient_images(rows * cols, c=channels), rows, cols, padding)
    assert grid.dtype == np.uint8
    assert grid.shape == (rows * 8 + (rows + 1) * padding, cols * 6 + (cols + 1) * padding, channels)


def test_grid_places_images_row_major_and_pads_missing_cells():
    grid = image_grid(gradient_images(5), rows=2, cols=3, padding=1, pad_value=7)
    cell = lambda r, c: grid[1 + r * 9:1 + r * 9 + 8, 1 + c * 7:1 + c * 7 + 6]
    assert np.all(cell(0, 2) == round(2 / 5 * 255)) and np.all(cell(1, 1) == round(4 / 5 * 255))
    assert np.all(cell(1, 2) == 7) and np.all(grid[0] == 7)
    with pytest.raises(JointVAEError):
        image_grid(gradient_images(7), rows=2, cols=3)


def test_reconstruction_grid_alternates_original_and_reconstruction_rows():
    originals, reconstructions = gradient_images(5), 1 - gradient_images(5)
    grid = reconstruction_grid(originals, reconstructions, cols=3, padding=0, pad_value=9)
    assert grid.shape == (4 * 8, 3 * 6, 1)
    cells = grid.reshape(4, 8, 3, 6, 1)[:, 0, :, 0, 0]
    np.testing.assert_array_equal(cells[0], to_uint8(originals[:3, 0, 0, 0]))
    np.testing.assert_array_equal(cells[1], to_uint8(reconstructions[:3, 0, 0, 0]))
    np.testing.assert_array_equal(cells[2], [*to_uint8(originals[3:, 0, 0, 0]), 9])
    np.testing.assert_array_equal(cells[3], [*to_uint8(reconstructions[3:, 0, 0, 0]), 9])


def test_upscale_repeats_pixels():
    np.testing.assert_array_equal(upscale(np.array([[1, 2]], np.uint8), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])
    assert upscale(np.zeros((3, 4, 3), np.uint8), 4).shape == (12, 16, 3)


def test_label_rows_adds_a_strip_with_grey_labels_for_inactive_rows():
    grid = upscale(image_grid(np.zeros((6, 8, 8, 3)), rows=2, cols=3, padding=2), 2)
    labelled = label_rows(grid, ["z0 KL=2.1", "z1 KL=0.0"], padding=4, inactive=[False, True])
    strip_width = labelled.shape[1] - grid.shape[1]
    assert labelled.shape[0] == grid.shape[0] and strip_width > 0
    np.testing.assert_array_equal(labelled[:, strip_width:], grid)
    top, bottom = np.split(labelled[:, :strip_width], 2)
    assert top.min() < 100 and 100 < bottom.min() < 255  # black text above, grey text below
    with pytest.raises(JointVAEError):
        label_rows(grid, ["only one", "two", "three"], padding=4)


def test_png_round_trips(tmp_path):
    image = (np.random.default_rng(0).uniform(size=(10, 12, 3)) * 255).astype(np.uint8)
    path = str(tmp_path / "grid.png")
    save_png(path, image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    save_png(path, image[:, :, :1])
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image[:, :, 0])
    assert os.listdir(tmp_path) == ["grid.png"]


def test_gif_has_one_frame_per_array_and_loops(tmp_path):
    frames = [np.full((16, 16, 1), 20 * i, np.uint8) for i in range(7)]
    path = str(tmp_path / "traversal.gif")
    save_gif(path, frames, fps=5)
    with Image.open(path) as gif:
        decoded = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]
        assert gif.info["loop"] == 0 and gif.info["duration"] == 200
    assert len(decoded) == 7
    np.testing.assert_array_equal([d[0, 0] for d in decoded], [20 * i for i in range(7)])
    assert os.listdir(tmp_path) == ["traversal.gif"]


def test_failed_writes_leave_no_file_behind(tmp_path):
    with pytest.raises(JointVAEError):
        save_gif(str(tmp_path / "bad.gif"), [np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])
    with pytest.raises(JointVAEError):
        save_png(str(tmp_path / "bad.png"), np.zeros((4, 4), np.float32))
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):  # the rename onto a folder fails after the temporary was written
        save_png(str(tmp_path / "folder"), np.zeros((4, 4), np.uint8))
    assert os.listdir(tmp_path) == ["folder"]
