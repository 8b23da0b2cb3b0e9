"""Every dataset, one entry each, the way a TFDS builder bundles a dataset: its metadata
(:class:`~jointvae_tf.data.info.DatasetInfo`), the reader of its files (:class:`Source`) and its training
preset (the settings that differ from the config dataclasses' defaults, by path as in
``RunConfig.from_settings``). Where each preset number comes from: docs/reference/datasets.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from jointvae_tf.core.config import CapacitySchedule, InvarianceConfig
from jointvae_tf.data import csv_files, image_folders, mnist_files, procedural
from jointvae_tf.data.info import (
    ARABIC_LETTERS,
    DIGITS,
    FOUR_SHAPES,
    LETTERS,
    MATH_SYMBOLS,
    SHAPE_FACTORS,
    DatasetInfo,
    Examples,
)
from jointvae_tf.data.splits import Selection
from jointvae_tf.data.tfds_sources import TfdsSource
from jointvae_tf.errors import ConfigError, JointVAEError

Reader = Callable[[str | None, Selection, int, int], Examples]


@dataclasses.dataclass(frozen=True)
class Source:
    """Reads a dataset's files: ``read(data_dir, selection, size, channels)`` gives the selected examples as
    uint8 ``[N, size, size, channels]``; ``available(data_dir)`` says whether the files are there; ``pools``
    are the example pools they hold (see ``splits``); ``how_to_get`` tells a user where to find them;
    ``downloads``: whether a read downloads the files when they are not there yet (TFDS).

    ``found_classes(data_dir)``, for datasets whose classes are folders, lists the classes on disk (None:
    the metadata's). ``supersample``: when the images are normalised, read them at twice the size first
    and halve after, so that small drawings that normalisation enlarges stay sharp.
    """

    read: Reader
    available: Callable[[str | None], bool]
    pools: tuple[str, ...]
    how_to_get: str
    found_classes: Callable[[str | None], tuple[str, ...]] | None = None
    supersample: bool = False
    downloads: bool = False


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset: what it is (``info``), how to read it (``source``), how to train on it (``preset``)."""

    info: DatasetInfo
    source: Source
    preset: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

    def class_names(self, data_dir: str | None) -> tuple[str, ...]:
        """Names of the classes as read from ``data_dir``: the class folders found there for folder datasets
        (ConfigError about ``data_dir`` when there are none), else the metadata's."""
        return self.source.found_classes(data_dir) if self.source.found_classes else self.info.class_names


def _found(find: Callable[..., object], *args) -> Callable[[str | None], bool]:
    """``available`` from a locator that raises JointVAEError when the files are missing."""
    def available(data_dir: str | None) -> bool:
        try:
            find(data_dir, *args)
        except JointVAEError:
            return False
        return True
    return available


def _tfds(info: DatasetInfo, preset: Mapping[str, Any] | None = None, **reader) -> Dataset:
    """A dataset read through TFDS (``reader``: the fields of :class:`TfdsSource`)."""
    source = TfdsSource(num_classes=info.num_classes, **reader)
    return Dataset(info, Source(source.read, source.available, source.pools, source.how_to_get(), downloads=True),
                   preset or {})


def _folders(info: DatasetInfo, layout: image_folders.FolderLayout, how_to_get: str) -> Dataset:
    """A handwriting dataset of one folder per class."""
    return Dataset(info, Source(layout.read, layout.available, ("all",), how_to_get, found_classes=layout.class_names),
                   HANDWRITING)


def _read_four_shapes(data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
    """Rendered without ``data_dir``; the Kaggle folder with it."""
    if data_dir is None:
        return procedural.read_split(selection, size, channels)
    return image_folders.KAGGLE_SHAPES.read(data_dir, selection, size, channels)


def _four_shapes_classes(data_dir: str | None) -> tuple[str, ...]:
    return FOUR_SHAPES if data_dir is None else image_folders.KAGGLE_SHAPES.class_names(data_dir)


HANDWRITING: Mapping[str, Any] = {
    "model.cont_capacity": CapacitySchedule(0.0, 2.0, 2_500),
    "model.disc_capacity": CapacitySchedule(0.0, 5.0, 4_000),  # reaches sum log K (its clip) by 2.4k steps at K 20
    "model.loss.disc_balance": 10.0,
    "model.invariance": InvarianceConfig(rotation=15.0, scale=0.15, shift=3.0, thickness=1.0, weight=30.0,
                                         objective="mutual_information"),
    "train.learning_rate": 1e-3,
    "train.steps": 10_000,
}
"""The handwriting recipe (measured in docs/results/2026-11-27-handwriting.md and
docs/results/2026-12-05-time-to-quality.md): the original JointVAE's MNIST networks and gamma, a continuous
capacity capped at 2 nats, a discrete code kept balanced and blind to small rotations, scalings, shifts and
stroke-width changes (the mutual information of an image's and its transform's categories, IIC), both
capacities open by 2.5k steps at a learning rate of 1e-3, at most 10k steps whatever the dataset's size
(a run stops earlier once its code has settled)."""

_ALL = (
    Dataset(
        DatasetInfo("four_shapes", "circle/square/star/triangle, white on black: rendered procedurally, or the "
                    "Kaggle 'Four Shapes' folder (smeschke/four-shapes) with a data_dir", "procedural", 32, 1, 4,
                    FOUR_SHAPES, SHAPE_FACTORS, 24_000, normalization="silhouette"),
        Source(_read_four_shapes, lambda data_dir: True, ("all",),
               "built in (procedural); or the Kaggle download smeschke/four-shapes, data.data_dir at the folder "
               "holding shapes/", found_classes=_four_shapes_classes, supersample=True),
        {"model.latent.cont": 5, "model.latent.disc": (8,),
         "model.cont_capacity": CapacitySchedule(0.0, 3.0, 6_000),
         "model.disc_capacity": CapacitySchedule(0.0, 2.1, 2_000),
         "model.loss.gamma": 30.0, "model.loss.disc_balance": 30.0,
         "model.invariance": InvarianceConfig(rotation=180.0, weight=10.0, every=2),
         # The loss falls 0.4-1.2% a look while C_z opens (to 6k steps), long after the shapes have settled.
         "train.settle_loss_gain": 0.02,
         "train.steps": 9_360}),  # 30 epochs of the 20k rendered shapes, on a folder of any size
    _tfds(DatasetInfo("mnist", "handwritten digits (TFDS mnist)", "tfds", 32, 1, 10, DIGITS, num_examples=70_000),
          HANDWRITING, tfds_name="mnist"),
    _tfds(DatasetInfo("fashion_mnist", "Zalando clothing thumbnails (TFDS fashion_mnist)", "tfds", 32, 1, 10,
                      ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                       "ankle boot"), num_examples=70_000),
          {"model.cont_capacity": CapacitySchedule(0.0, 5.0, 50_000),
           "model.disc_capacity": CapacitySchedule(0.0, 10.0, 50_000),
           "model.loss.gamma": 100.0},
          tfds_name="fashion_mnist"),
    _tfds(DatasetInfo("emnist_letters", "handwritten letters A-Z (TFDS emnist/letters)", "tfds", 32, 1, 26, LETTERS,
                      num_examples=103_600),
          HANDWRITING, tfds_name="emnist/letters", label_offset=1, transpose=True),
    _tfds(DatasetInfo("kmnist", "cursive Japanese hiragana, 10 classes (TFDS kmnist)", "tfds", 32, 1, 10,
                      ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), num_examples=70_000),
          HANDWRITING, tfds_name="kmnist"),
    _tfds(DatasetInfo("dsprites", "2D sprites with known factors, 737,280 images (TFDS dsprites); label = shape",
                      "tfds", 64, 1, 3, ("square", "ellipse", "heart"), ("shape", "scale", "orientation", "x", "y"),
                      737_280),
          {"model.latent.cont": 6, "model.latent.disc": (3,),
           "model.cont_capacity": CapacitySchedule(0.0, 40.0, 300_000),
           "model.disc_capacity": CapacitySchedule(0.0, 1.1, 300_000),
           "model.loss.gamma": 150.0, "train.epochs": 30},
          tfds_name="dsprites", label_key="label_shape", pixel_scale=255, pools=("train",),
          factor_keys=("label_shape", "value_scale", "value_orientation", "value_x_position", "value_y_position")),
    Dataset(
        DatasetInfo("az_letters", "Kaggle 'A-Z Handwritten Alphabets' CSV (NIST-derived, 28x28)", "local", 32, 1, 26,
                    LETTERS, num_examples=372_450),
        Source(csv_files.read_az_letters, _found(csv_files.find_az_csv), ("all",),
               f"Kaggle sachinpatel21/az-handwritten-alphabets-in-csv-format; data.data_dir at {csv_files.AZ_FILE!r}"),
        HANDWRITING),
    Dataset(
        DatasetInfo("arabic_chars", "Kaggle AHCD Arabic handwritten characters (CSV, 32x32 column-major)", "local",
                    32, 1, 28, ARABIC_LETTERS, num_examples=16_800),
        Source(csv_files.read_arabic_chars, _found(csv_files.find_ahcd_files, "test"), ("train", "test"),
               "Kaggle mloey1/ahcd1; data.data_dir at the folder of its four CSVs"),
        HANDWRITING),
    _folders(DatasetInfo("math_symbols", "Kaggle 'Handwritten Math Symbol and Digit Dataset' (one folder per "
                         "symbol)", "local", 32, 1, len(MATH_SYMBOLS), MATH_SYMBOLS),
             image_folders.MATH_SYMBOLS_FOLDER, "Kaggle clarencezhao/handwritten-math-symbol-dataset; data.data_dir at "
             "dataset/"),
    _folders(DatasetInfo("image_folder", "any folder with one subfolder of PNG/JPEG/BMP images per class", "local",
                         32, 1, 0, ()),
             image_folders.IMAGE_FOLDER, f"data.data_dir at {image_folders.LAYOUT}"),
    Dataset(
        DatasetInfo("npz", "a Keras-style mnist.npz with x_train/y_train/x_test/y_test", "local", 32, 1, 10, DIGITS),
        Source(mnist_files.read_npz, _found(mnist_files.find_npz), ("train", "test"),
               "keras.datasets.mnist's mnist.npz: found in Keras' cache (~/.keras/datasets); or data.data_dir at "
               "the file or its folder"),
        HANDWRITING),
    Dataset(
        DatasetInfo("mnist_idx", "raw MNIST IDX files (train-images-idx3-ubyte[.gz], ...)", "local", 32, 1, 10,
                    DIGITS, num_examples=70_000),
        Source(mnist_files.read_mnist_idx, _found(mnist_files.find_idx, "test", "labels-idx1"), ("train", "test"),
               "the four MNIST IDX files; data.data_dir at their folder"),
        HANDWRITING),
)
DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in _ALL}


def get_dataset(name: str) -> Dataset:
    """The entry of dataset ``name``; ConfigError (``data.name``) listing the valid names when unknown."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError("data.name", f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


def dataset_info(name: str) -> DatasetInfo:
    """Metadata of dataset ``name``."""
    return get_dataset(name).info


def dataset_names() -> list[str]:
    """Every dataset's name, in listing order."""
    return list(DATASETS)
