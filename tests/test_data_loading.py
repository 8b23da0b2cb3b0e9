"""load_examples and describe_datasets: the default dataset works offline; splits never overlap."""

import numpy as np
import pytest
from PIL import Image

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import (
    dataset_info,
    dataset_names,
    describe_datasets,
    load_examples,
)
from jointvae_tf.data.normalize import content_boxes
from jointvae_tf.data.resize import fit_images
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import JointVAEError


def test_four_shapes_is_the_default_and_renders_offline():
    info = dataset_info(DataConfig().name)
    assert info.name == "four_shapes" and info.image_size == 32 and info.num_classes == 4
    examples = load_examples(DataConfig(max_examples=64), "train", 64, 1)
    assert examples.images.shape == (64, 64, 64, 1) and examples.factors.shape == (64, len(info.factor_names))
    validation = load_examples(DataConfig(max_examples=100_000), "validation", 32, 3)
    assert validation.images.shape == (2000, 32, 32, 3)


def test_a_read_that_must_not_download_names_the_tfds_dataset_missing(tmp_path):
    # what an export and the explorer ask for: the data on this machine, or one line saying it is not here
    with pytest.raises(JointVAEError, match=r"^data.data_dir: mnist is not on this machine yet \(TFDS 'mnist': "
                                            r"downloaded on first use into data.data_dir .*\), and this read does "
                                            r"not download$"):
        load_examples(DataConfig(name="mnist", data_dir=str(tmp_path)), "validation", 32, 1, download=False)
    rendered = load_examples(DataConfig(max_examples=8), "validation", 32, 1, download=False)
    assert rendered.images.shape == (8, 32, 32, 1)  # nothing to download: read as always


def test_normalize_puts_every_drawing_in_the_inner_box():
    examples = load_examples(DataConfig(normalize="box", max_examples=200), "test", 64, 1)
    top, left, bottom, right = content_boxes(examples.images).T
    sides = np.maximum(bottom - top, right - left)
    assert np.all(np.abs(sides - 48) <= 2)
    assert np.all(np.abs((top + bottom) / 2 - 32) <= 1.5) and np.all(np.abs((left + right) / 2 - 32) <= 1.5)


def test_unknown_dataset_and_split_are_user_errors():
    with pytest.raises(JointVAEError, match=r"unknown dataset 'cifar'; expected one of four_shapes, mnist"):
        dataset_info("cifar")
    with pytest.raises(JointVAEError, match=r"split: expected one of train, validation, test"):
        load_examples(DataConfig(), "dev", 32, 1)


@pytest.mark.parametrize("pools", [("all",), ("train", "test")])
def test_splits_partition_the_pools_whatever_the_seed(pools):
    taken = {split: Selection(split, pools, 0.1, seed).indices(1000) for split, seed in
             (("train", 0), ("validation", 1), ("test", 2))}
    if pools == ("all",):
        assert sorted(np.concatenate(list(taken.values())).tolist()) == list(range(1000))
    else:
        assert len(np.intersect1d(taken["train"], taken["validation"])) == 0 and len(taken["test"]) == 1000
    assert len(taken["validation"]) == 100
    assert sorted(Selection("validation", pools, 0.1, 5).indices(1000)) == sorted(taken["validation"])
    assert len(Selection("train", pools, 0.1, 0, max_examples=7).indices(1000)) == 7


@pytest.mark.parametrize("pools", [("all",), ("train", "test")])
def test_the_seed_picks_the_training_subset_and_never_moves_the_held_out_examples(pools):
    subset = {seed: Selection("train", pools, 0.1, seed, max_examples=100).indices(1000) for seed in (3, 4)}
    np.testing.assert_array_equal(Selection("train", pools, 0.1, 3, max_examples=100).indices(1000), subset[3])
    assert len(np.intersect1d(subset[3], subset[4])) < 50  # another seed: another subset (about 11 shared)
    held_out = [Selection("validation", pools, 0.1, seed).indices(1000) for seed in (3, 4)]
    assert not np.array_equal(*held_out) and sorted(held_out[0]) == sorted(held_out[1])  # reordered, same set


def test_fit_pads_28_to_32_and_resamples_otherwise():
    image = np.zeros((1, 28, 28, 1), np.uint8)
    image[0, 0, 0] = 255
    assert fit_images(image, 32, 1)[0, 2, 2, 0] == 255
    assert fit_images(image, 64, 3).shape == (1, 64, 64, 3)
    assert fit_images(np.full((2, 200, 200, 3), 90, np.uint8), 64, 1).shape == (2, 64, 64, 1)


def test_describe_lists_every_dataset_with_availability(tmp_path):
    rows = describe_datasets(str(tmp_path))
    assert [row["name"] for row in rows] == dataset_names()
    available = {row["name"]: row["available"] for row in rows}
    assert available["four_shapes"] and not available["mnist"] and not available["az_letters"]
    assert not available["image_folder"] and not available["math_symbols"]
    assert all(row["where"] for row in rows)
    (tmp_path / "dataset" / "add").mkdir(parents=True)
    Image.new("L", (45, 45)).save(tmp_path / "dataset" / "add" / "0.png")
    available = {row["name"]: row["available"] for row in describe_datasets(str(tmp_path))}
    assert available["math_symbols"] and not available["image_folder"]  # image_folder: "dataset" holds no images


def test_datasets_command_prints_the_table(tmp_path):
    from click.testing import CliRunner
    from jointvae_tf.cli.datasets import datasets
    result = CliRunner().invoke(datasets, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "four_shapes" in result.output and "emnist_letters" in result.output
