"""TFDS datasets read offline under ``tfds.testing.mock_data``: shapes, dtypes, label ranges, EMNIST's
orientation and dSprites' factors; a dataset not prepared yet is downloaded on first use, or named."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import dataset_info, load_examples
from jointvae_tf.errors import JointVAEError
from tfds_mock import mock_tfds


def load(name, split="train", size=32, **config):
    return load_examples(DataConfig(name=name, **config), split, size, 1)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_digit_like_datasets(name):
    with mock_tfds(num_examples=20):
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
    with mock_tfds(as_dataset_fn=emnist_letters):
        examples = load("emnist_letters", "test", size=32, max_examples=4)
    upright = np.zeros((28, 28), np.uint8)
    upright[1:3, 1:10] = 255
    np.testing.assert_array_equal(examples.images[0, :, :, 0], np.pad(upright, 2))
    assert sorted(examples.labels) == [0, 1, 24, 25]


def test_emnist_label_outside_letters_is_an_error():
    def bad(builder, split, **kwargs):
        return emnist_letters(builder, split).map(lambda e: {**e, "label": e["label"] * 0})
    with mock_tfds(as_dataset_fn=bad), pytest.raises(JointVAEError, match=r"emnist/letters.*label -1"):
        load("emnist_letters", "test")


def dsprites_records(builder, split, **kwargs):
    """dSprites' real storage: 64x64 images of 0/1, and every factor in its own field. Record i shows a
    square of side 4 + i at the top left; its x position is i / 100, so a record can be traced."""
    n = 30
    images = np.zeros((n, 64, 64, 1), np.uint8)
    for i in range(n):
        images[i, :4 + i, :4 + i] = 1
    return tf.data.Dataset.from_tensor_slices({
        "image": images, "label_shape": np.arange(n, dtype=np.int64) % 3,
        "value_scale": np.linspace(0.5, 1.0, n, dtype=np.float32), "value_orientation": np.full(n, 2.0, np.float32),
        "value_x_position": np.arange(n, dtype=np.float32) / 100, "value_y_position": np.full(n, 0.25, np.float32)})


def test_dsprites_pixels_scaled_to_255_with_each_factor_from_its_field():
    with mock_tfds(as_dataset_fn=dsprites_records):
        examples = load("dsprites", "validation", size=64, validation_fraction=0.2)
    assert examples.images.shape == (6, 64, 64, 1) and examples.images.dtype == np.uint8
    assert dataset_info("dsprites").factor_names == ("shape", "scale", "orientation", "x", "y")
    record = np.round(examples.factors[:, 3] * 100).astype(int)  # which record each example is
    assert len(set(record)) == 6
    for image, i in zip(examples.images[..., 0], record):
        expected = np.zeros((64, 64), np.uint8)
        expected[:4 + i, :4 + i] = 255
        np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(examples.labels, record % 3)
    np.testing.assert_allclose(examples.factors[:, 0], record % 3)
    np.testing.assert_allclose(examples.factors[:, 1], np.linspace(0.5, 1.0, 30)[record], rtol=1e-6)
    np.testing.assert_allclose(examples.factors[:, 2], 2.0)
    np.testing.assert_allclose(examples.factors[:, 4], 0.25)


def numbered_digits(builder, split, **kwargs):
    """50 MNIST-shaped records, record i holding i in its first pixel (the test pool: 100 + i)."""
    images = np.zeros((50, 28, 28, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(50) + (100 if split == "test" else 0)
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(50, dtype=np.int64) % 10})


def record_ids(name, split, seed, **config):
    examples = load_examples(DataConfig(name=name, **config), split, 32, 1, seed=seed)
    return examples.images[:, 2, 2, 0].tolist()  # 28x28 is padded to 32x32 by 2 pixels


def test_the_seed_moves_the_training_subset_but_never_the_held_out_examples():
    with mock_tfds(as_dataset_fn=numbered_digits):
        train = {seed: record_ids("mnist", "train", seed, max_examples=7) for seed in (3, 4)}
        assert record_ids("mnist", "train", 3, max_examples=7) == train[3]  # the same seed, the same examples
        assert len(train[3]) == 7 and set(train[3]) != set(train[4])
        held_out = {seed: record_ids("mnist", "validation", seed) for seed in (3, 4)}
        assert len(held_out[3]) == 5 and sorted(held_out[3]) == sorted(held_out[4])
        whole_train = record_ids("mnist", "train", 3)
        assert len(whole_train) == 45 and not set(whole_train) & set(held_out[3])
        assert sorted(record_ids("mnist", "test", 3)) == sorted(record_ids("mnist", "test", 4)) == list(range(100, 150))


class _Connection:
    """What ``socket.create_connection`` gives when the host answers."""

    def close(self):
        pass


def test_a_dataset_not_prepared_yet_is_downloaded_on_first_use(tmp_path, monkeypatch):
    downloads, contacted = [], []
    with tfds.testing.mock_data(num_examples=20), monkeypatch.context() as patch:
        patch.setattr(socket, "create_connection", lambda address, timeout: contacted.append(address) or _Connection())
        patch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: False)
        patch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                      lambda self, *args, **kwargs: downloads.append(self.name))
        examples = load("mnist", "test", data_dir=str(tmp_path))
    assert len(examples.images) == 20 and downloads == ["mnist"] and contacted == [("storage.googleapis.com", 443)]


def _no_name(host, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_offline_the_missing_dataset_is_named_with_what_to_fetch_and_where(tmp_path, monkeypatch):
    attempts = []
    monkeypatch.setattr(socket, "getaddrinfo", _no_name)  # this machine as it is: DNS names nothing outside
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", lambda self, *a, **k: attempts.append(1))
    with pytest.raises(JointVAEError) as raised:
        load("kmnist", data_dir=str(tmp_path))
    message = str(raised.value)
    assert "\n" not in message and message.startswith(
        f"data.data_dir: TFDS 'kmnist' is not in {tmp_path} and could not be downloaded (codh.rois.ac.jp: Name or "
        "service not known); where there is internet, run tfds.builder('kmnist', data_dir=DIR).download_and_prepare()"
        " (it fetches 4 files from http://codh.rois.ac.jp/kmnist/dataset/kmnist/)")
    assert attempts == []  # TFDS's own attempt would retry each file for minutes before giving up


def test_a_download_that_fails_midway_is_named_with_its_reason(tmp_path, monkeypatch):
    def lost(self, *args, **kwargs):
        raise OSError("Connection reset by peer")

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: _Connection())
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", lost)
    with pytest.raises(JointVAEError, match=r"^data.data_dir: TFDS 'mnist' is not in .* could not be downloaded "
                                            r"\(OSError: Connection reset by peer\); where there is internet"):
        load("mnist", data_dir=str(tmp_path))


def test_no_test_can_download_a_dataset(network_lookups):
    """The tests' conftest gives every test an empty TFDS data_dir, refuses TFDS's download and answers no
    host but this machine (noting it, which fails the test), so nothing is ever downloaded."""
    assert os.path.samefile(tfds.core.constants.DATA_DIR, os.environ["TFDS_DATA_DIR"])
    assert not tfds.builder("mnist").is_prepared()
    with pytest.raises(pytest.fail.Exception, match="started TFDS's download of 'mnist'"):
        tfds.load("mnist", split="test")
    with pytest.raises(JointVAEError, match=r"could not be downloaded \(storage.googleapis.com: "):
        load("mnist")
    assert network_lookups == ["storage.googleapis.com"]
    network_lookups.clear()


def test_the_module_tfds_imports_to_download_is_installed():
    # tensorflow_datasets' DatasetBuilder imports importlib_resources lazily, when it downloads and prepares a
    # dataset, without declaring it as a requirement: the package depends on it so that tfds.load works.
    import importlib_resources

    assert importlib_resources.files("jointvae_tf").is_dir()


def test_a_run_on_other_data_does_not_import_tensorflow_datasets(tmp_path):
    script = ("import sys\nfrom jointvae_tf.data import load_examples\nfrom jointvae_tf.core.config import DataConfig\n"
              "from jointvae_tf.training import trainer\n"
              "load_examples(DataConfig(name='four_shapes', max_examples=8), 'train', 32, 1)\n"
              "print('TFDS', 'tensorflow_datasets' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TFDS False" in result.stdout
