"""One entry point for reading any dataset of the catalog: the split's examples, normalised, named."""

from __future__ import annotations

import dataclasses

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data.catalog import DATASETS, get_dataset
from jointvae_tf.data.info import Examples
from jointvae_tf.data.preparation import Preparation, finish
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import ConfigError


def load_examples(config: DataConfig, split: str, image_size: int, channels: int, seed: int = 0,
                  download: bool = True) -> Examples:
    """Split ``split`` ("train" | "validation" | "test") of ``config.name`` in memory, uint8
    ``[N, image_size, image_size, channels]``, deterministic for ``seed``.

    The split's examples come in seeded order, the first ``max_examples`` kept; validation (and test, when
    the files hold none) is a fixed ``validation_fraction`` of the files. Rendered ``four_shapes`` (no
    ``data_dir``) is the exception: ``max_examples`` sets the train size (default 20,000) and caps
    validation/test (2,000). ``config.normalize`` names the normalisation applied. A ConfigError names the
    setting at fault (``data.data_dir``). ``download=False``: a dataset not on this machine yet that a read
    would download (TFDS) is a ConfigError instead.
    """
    dataset = get_dataset(config.name)
    source = dataset.source
    if not download and source.downloads and not source.available(config.data_dir):
        raise ConfigError("data.data_dir", f"{config.name} is not on this machine yet ({source.how_to_get}), and "
                          "this read does not download")
    preparation = preparation_of(config, image_size, channels)
    try:
        available = dataset.class_names(config.data_dir)
        names = choose_classes(available, config.classes)
        ids = tuple(available.index(name) for name in names) if names != available else ()
        selection = Selection(split, source.pools, config.validation_fraction, seed, config.max_examples, ids)
        examples = source.read(config.data_dir, selection, preparation.fitted_size, channels)
    except ConfigError as error:
        raise error.within("data") from None
    examples.images = finish(examples.images, preparation)
    return dataclasses.replace(examples, class_names=names)


def preparation_of(config: DataConfig, image_size: int, channels: int) -> Preparation:
    """How :func:`load_examples` prepares the images of ``config`` for a model of that size: normalised at
    twice the size, then halved, for a dataset that asks for it (``Source.supersample``)."""
    supersample = 2 if config.normalize != "none" and get_dataset(config.name).source.supersample else 1
    return Preparation(image_size, channels, config.normalize, supersample)


def choose_classes(available: tuple[str, ...], requested: tuple[str, ...]) -> tuple[str, ...]:
    """The ``requested`` class names in ``available``'s order (all of ``available`` when none are
    requested); ConfigError about ``classes`` listing the valid names when one is unknown."""
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ConfigError("classes", f"unknown class{'es' if len(unknown) > 1 else ''} "
                                     f"{', '.join(map(repr, unknown))}; expected names among {', '.join(available)}")
    return tuple(name for name in available if name in requested) if requested else available


def resolve_classes(config: DataConfig) -> tuple[str, ...]:
    """The classes a run of ``config`` reads, in label order: ``config.classes`` or every class found (for
    folder datasets, the class folders in ``config.data_dir``)."""
    try:
        return choose_classes(get_dataset(config.name).class_names(config.data_dir), config.classes)
    except ConfigError as error:
        raise error.within("data") from None


def narrow_classes(config: DataConfig, classes: tuple[str, ...]) -> DataConfig:
    """``config`` reading only ``classes`` (in any order) of the classes it reads; ConfigError about
    ``data.classes`` listing those when one is not among them. No ``classes``: ``config`` unchanged."""
    if not classes:
        return config
    try:
        return dataclasses.replace(config, classes=choose_classes(resolve_classes(config), classes))
    except ConfigError as error:
        raise error.within("data") from None


def describe_datasets(data_dir: str | None) -> list[dict]:
    """One row per dataset for ``jvae-tf datasets``: name, source, size (approx. examples), classes,
    available (bool: readable now from ``data_dir``), where (how to get it)."""
    return [{"name": d.name, "source": d.info.source, "size": d.info.num_examples, "classes": d.info.num_classes,
             "available": d.source.available(data_dir), "where": d.source.how_to_get} for d in DATASETS.values()]
