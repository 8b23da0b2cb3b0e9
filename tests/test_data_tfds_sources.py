"""TFDS datasets read offline under ``tfds.testing.mock_data``: shapes, dtypes, label ranges, EMNIST's
orientation and dSprites' factors."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from jointvae_tf.config import DataConfig
from jointvae_tf.data import dataset_info, load_examples
from jointvae_tf.errors import JointVAEError


def load(name, split="train", size=32, **config):
    return load_examples(DataConfig(name=name, **config), split, size, 1)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_digit_like_datasets(name):
    with tfds.testing.mock_data(num_examples=20):
        train, test = load(name, validation_fraction=0.1), load(name, "test")
    assert train.images.shape == (18, 32, 32, 1) and train.images.dtype == np.uint8
    assert test.images.shape == (20, 32, 32, 1)
    assert train.labels.dtype == np.int32 and 0 <= train.labels.min() and train.labels.max() < 10
    assert train.factors is None and train.class_names == dataset_info(name).class_names


def emnist_letters(builder, split, **kwargs):
    """EMNIST's real storage: labels 1..26 and images transposed (a bar in the top-left column)."""
    stored = np.zeros((4, 28, 28, 1), np.uint8)
    stored[:, 1:10, 1:3] = 255
    labels = np.array([1, 2, 25, 26], np.int64)
    return tf.data.Dataset.from_tensor_slices({"image": stored, "label": labels})


def test_emnist_letters_upright_with_0_based_labels():
    with tfds.testing.mock_data(as_dataset_fn=emnist_letters):
        examples = load("emnist_letters", "test", size=32, max_examples=4)
    upright = np.zeros((28, 28), np.uint8)
    upright[1:3, 1:10] = 255
    np.testing.assert_array_equal(examples.images[0, :, :, 0], np.pad(upright, 2))
    assert sorted(examples.labels) == [0, 1, 24, 25]


def test_emnist_label_outside_letters_is_an_error():
    def bad(builder, split, **kwargs):
        return emnist_letters(builder, split).map(lambda e: {**e, "label": e["label"] * 0})
    with tfds.testing.mock_data(as_dataset_fn=bad), pytest.raises(JointVAEError, match=r"emnist/letters.*label -1"):
        load("emnist_letters", "test")


def test_dsprites_has_its_factors_with_shape_as_label():
    with tfds.testing.mock_data(num_examples=30):
        examples = load("dsprites", "validation", size=64, validation_fraction=0.2)
    assert examples.images.shape == (6, 64, 64, 1)
    assert examples.factors.shape == (6, len(dataset_info("dsprites").factor_names))
    np.testing.assert_array_equal(examples.factors[:, 0], examples.labels)
    assert examples.labels.max() < 3


def test_max_examples_keeps_the_seeded_first_n():
    with tfds.testing.mock_data(num_examples=50):
        a = load_examples(DataConfig(name="mnist", max_examples=7), "train", 32, 1, seed=3)
        b = load_examples(DataConfig(name="mnist", max_examples=7), "train", 32, 1, seed=3)
    assert len(a) == 7
    np.testing.assert_array_equal(a.images, b.images)


def test_missing_tfds_data_says_how_to_download(tmp_path):
    with pytest.raises(JointVAEError, match=r"no prepared TFDS 'kmnist' in .*download_and_prepare"):
        load("kmnist", data_dir=str(tmp_path))
