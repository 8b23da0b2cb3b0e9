"""One entry point for every dataset: which reader serves it, how to get its files, and the split logic."""

from __future__ import annotations

import dataclasses
from typing import Callable

from jointvae_tf.config import DataConfig
from jointvae_tf.data import csv_files, image_folders, mnist_files, procedural
from jointvae_tf.data.info import DATASETS, Examples, dataset_info
from jointvae_tf.data.normalize import normalize_images
from jointvae_tf.data.resize import halve, to_channels
from jointvae_tf.data.splits import Selection, check_split
from jointvae_tf.data.tfds_sources import TFDS_SOURCES
from jointvae_tf.errors import ConfigError, JointVAEError


@dataclasses.dataclass(frozen=True)
class Source:
    """Reads a dataset's files: ``read(data_dir, selection, size, channels)``; ``available(data_dir)`` says
    whether they are there; ``pools`` are the example pools its files hold (see ``splits``)."""

    read: Callable[[str | None, Selection, int, int], Examples]
    available: Callable[[str | None], bool]
    pools: tuple[str, ...]
    how_to_get: str


def _found(find: Callable[..., object], *args) -> Callable[[str | None], bool]:
    """``available`` from a locator that raises JointVAEError when the files are missing."""
    def available(data_dir: str | None) -> bool:
        try:
            find(data_dir, *args)
        except JointVAEError:
            return False
        return True
    return available


SOURCES: dict[str, Source] = {
    "four_shapes": Source(image_folders.KAGGLE_SHAPES.read, lambda data_dir: True, ("all",),
                          "built in (procedural); or the Kaggle download smeschke/four-shapes, --data-dir at the "
                          "folder holding shapes/"),
    **{name: Source(source.read, source.available, source.pools, source.how_to_get())
       for name, source in TFDS_SOURCES.items()},
    "az_letters": Source(csv_files.read_az_letters, _found(csv_files.find_az_csv), ("all",),
                         f"Kaggle sachinpatel21/az-handwritten-alphabets-in-csv-format; --data-dir at {csv_files.AZ_FILE!r}"),
    "arabic_chars": Source(csv_files.read_arabic_chars, _found(csv_files.find_ahcd_files, "test"),
                           ("train", "test"), "Kaggle mloey1/ahcd1; --data-dir at the folder of its four CSVs"),
    "math_symbols": Source(image_folders.MATH_SYMBOLS_FOLDER.read, image_folders.MATH_SYMBOLS_FOLDER.available,
                           ("all",), "Kaggle clarencezhao/handwritten-math-symbol-dataset; --data-dir at dataset/"),
    "image_folder": Source(image_folders.IMAGE_FOLDER.read, image_folders.IMAGE_FOLDER.available, ("all",),
                           f"--data-dir at {image_folders.LAYOUT}"),
    "npz": Source(mnist_files.read_npz, _found(mnist_files.find_npz), ("train", "test"),
                  "keras.datasets.mnist's mnist.npz; --data-dir at the file or its folder"),
    "mnist_idx": Source(mnist_files.read_mnist_idx, _found(mnist_files.find_idx, "test", "labels-idx1"),
                        ("train", "test"), "the four MNIST IDX files; --data-dir at their folder"),
}


def load_examples(config: DataConfig, split: str, image_size: int, channels: int, seed: int = 0) -> Examples:
    """Split ``split`` ("train" | "validation" | "test") of ``config.name`` in memory, uint8
    ``[N, image_size, image_size, channels]``, deterministic for ``seed``.

    ``four_shapes`` without ``data_dir`` is rendered: ``max_examples`` sets the train size (default
    20,000) and caps validation/test (2,000). Other sources: the split's examples in seeded order, the first
    ``max_examples`` kept; validation (and test, when the files hold none) is a fixed
    ``validation_fraction`` of the files. ``config.normalize`` names the normalisation applied.
    """
    try:
        examples = _read(config, split, image_size, channels, seed)
    except ConfigError as error:
        raise error.within("data") from None
    return dataclasses.replace(examples, class_names=examples.class_names or dataset_info(config.name).class_names)


def _read(config: DataConfig, split: str, image_size: int, channels: int, seed: int) -> Examples:
    if config.name == "four_shapes" and config.data_dir is None:
        check_split(split)
        count = config.max_examples if split == "train" else min(config.max_examples or procedural.SPLIT_SIZES[split],
                                                                 procedural.SPLIT_SIZES[split])
        # Normalising enlarges small shapes: render them at twice the size first so they stay sharp.
        normalizing = config.normalize != "none"
        examples = procedural.render_split(split, count, image_size * (2 if normalizing else 1), seed)
        if normalizing:
            examples.images = halve(normalize_images(examples.images, config.normalize))
        examples.images = to_channels(examples.images, channels)
    else:
        source = SOURCES[config.name]
        selection = Selection(split, source.pools, config.validation_fraction, seed, config.max_examples)
        examples = source.read(config.data_dir, selection, image_size, channels)
        if config.normalize != "none":
            examples.images = normalize_images(examples.images, config.normalize)
    return examples


def class_names(name: str, data_dir: str | None) -> tuple[str, ...]:
    """The classes of dataset ``name`` as read from ``data_dir``: its metadata's, or for ``image_folder`` the
    class folders found there (JointVAEError when there are none)."""
    if name == "image_folder":
        try:
            return image_folders.IMAGE_FOLDER.class_names(data_dir)
        except ConfigError as error:
            raise error.within("data") from None
    return dataset_info(name).class_names


def describe_datasets(data_dir: str | None) -> list[dict]:
    """One row per dataset for ``jvae-tf datasets``: name, source, size (approx. examples), classes,
    available (bool: readable now from ``data_dir``), where (how to get it)."""
    return [{"name": info.name, "source": info.source, "size": info.num_examples, "classes": info.num_classes,
             "available": SOURCES[info.name].available(data_dir), "where": SOURCES[info.name].how_to_get}
            for info in DATASETS.values()]
