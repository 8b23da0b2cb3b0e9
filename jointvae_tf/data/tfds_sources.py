"""Datasets read through TensorFlow Datasets: as ``tfds.load`` does, a dataset not yet prepared in TFDS's
``data_dir`` (default ``~/tensorflow_datasets``) is downloaded and prepared there on first use. Offline, the
read fails at once with one line naming the files to fetch and where they go (TFDS alone would retry each
file for minutes)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from absl import logging as absl_logging

from jointvae_tf.data.info import Examples, check_labels
from jointvae_tf.data.resize import fit_images
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import ConfigError, os_reason
from jointvae_tf.progress import Progress, tracked

if TYPE_CHECKING:
    import tensorflow_datasets as tfds

_BATCH = 4096
DEFAULT_DATA_DIR = "~/tensorflow_datasets"
"""Where TFDS keeps its datasets when no ``data_dir`` is given (``$TFDS_DATA_DIR`` overrides it)."""
CONNECT_TIMEOUT = 10.0
"""Seconds a download host has to accept a connection before the dataset is reported as not downloadable."""


def _tfds():
    """tensorflow_datasets, imported when a TFDS dataset is first used: a run on other data does not pay for
    its import (0.3-0.5 s)."""
    import tensorflow_datasets

    return tensorflow_datasets


@contextlib.contextmanager
def _quiet_absl():
    """absl's (TFDS's) warnings silenced for the duration."""
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """How to turn TFDS ``tfds_name`` into :class:`Examples` with labels in ``[0, num_classes)``.

    ``label_offset`` is subtracted from the labels (EMNIST letters count from 1); ``transpose`` swaps
    height and width (EMNIST is stored transposed); ``pixel_scale`` multiplies the pixels (dSprites stores
    0/1); ``factor_keys`` are the features stacked as factors; ``pools`` are the TFDS splits.
    """

    tfds_name: str
    num_classes: int
    label_key: str = "label"
    label_offset: int = 0
    transpose: bool = False
    pixel_scale: int = 1
    factor_keys: tuple[str, ...] = ()
    pools: tuple[str, ...] = ("train", "test")

    def how_to_get(self) -> str:
        return (f"TFDS '{self.tfds_name}': downloaded on first use into data.data_dir (default "
                f"{DEFAULT_DATA_DIR}), as tfds.load does")

    def available(self, data_dir: str | None) -> bool:
        """Whether the dataset is prepared in ``data_dir`` already (else the first read downloads it)."""
        builder = self._builder(data_dir)
        with _quiet_absl():
            return builder.is_prepared()

    def _builder(self, data_dir: str | None) -> tfds.core.DatasetBuilder:
        # TFDS warns about every version folder it does not find; a dataset not downloaded yet is no news.
        with _quiet_absl():
            return _tfds().builder(self.tfds_name, data_dir=data_dir)

    def _prepared(self, data_dir: str | None) -> tfds.core.DatasetBuilder:
        """The builder, its data downloaded and prepared first if needed (``download_and_prepare``, as
        ``tfds.load`` does); ConfigError about ``data_dir`` when that cannot be done here."""
        builder = self._builder(data_dir)
        with _quiet_absl():
            prepared = builder.is_prepared()
        if prepared:
            return builder
        urls = sorted(builder.url_infos or ())
        reason = _unreachable(urls)
        if reason is None:
            try:
                builder.download_and_prepare()
                return builder
            except (OSError, ImportError, _tfds().download.DownloadError) as error:  # a TFDS extra missing, a lost link
                reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        where = os.path.expanduser(data_dir or _tfds().core.constants.DATA_DIR)
        fetches = f" (it fetches {_files(urls)})" if urls else ""
        raise ConfigError("data_dir", f"TFDS '{self.tfds_name}' is not in {where} and could not be downloaded "
                          f"({reason}); where there is internet, run tfds.builder('{self.tfds_name}', "
                          f"data_dir=DIR).download_and_prepare(){fetches}, then copy DIR's contents into {where} "
                          "or pass DIR as data.data_dir")

    def read(self, data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
        """Stream the pool once in batches, keeping only the selected examples (in the selection's order);
        with chosen classes, a first pass reads the labels alone to find their examples."""
        dataset = self._prepared(data_dir).as_dataset(split=selection.pool)
        keys = ("image", self.label_key) + self.factor_keys
        dataset = dataset.map(lambda example: {k: example[k] for k in keys})
        pool_size = int(dataset.cardinality())
        chosen = selection.pick(self._labels(dataset) if selection.classes else np.zeros(pool_size, np.int64))
        position = np.full(pool_size, -1)
        position[chosen] = np.arange(len(chosen))
        kept: dict[str, np.ndarray] = {}
        progress = Progress(f"Reading {len(chosen)} {selection.split} images of TFDS {self.tfds_name} "
                            f"({pool_size} in {selection.pool})", pool_size, "image")
        batches = tracked(dataset.batch(_BATCH).as_numpy_iterator(), progress, units=lambda batch: len(batch["image"]))
        for start, batch in zip(range(0, len(position), _BATCH), batches):
            rows = position[start:start + len(batch["image"])]
            for key, values in batch.items():
                kept.setdefault(key, np.zeros((len(chosen),) + values.shape[1:], values.dtype))[rows[rows >= 0]] = \
                    values[rows >= 0]
        return self._examples(kept, selection, size, channels)

    def _labels(self, dataset: tf.data.Dataset) -> np.ndarray:
        """Every label of the pool, in order, ``[pool_size]``."""
        labels = dataset.map(lambda example: example[self.label_key]).batch(_BATCH)
        return np.concatenate([batch - self.label_offset for batch in labels.as_numpy_iterator()])

    def _examples(self, kept: dict[str, np.ndarray], selection: Selection, size: int, channels: int) -> Examples:
        images = kept["image"]
        if self.transpose:
            images = images.transpose(0, 2, 1, 3)
        images = (images * self.pixel_scale).astype(np.uint8)
        labels = check_labels(kept[self.label_key] - self.label_offset, self.num_classes,
                              f"TFDS {self.tfds_name} ({self.label_key})")
        labels = selection.relabel(labels)
        factors = np.stack([kept[k] for k in self.factor_keys], axis=1).astype(np.float32) if self.factor_keys \
            else None
        return Examples(fit_images(images, size, channels), labels, factors)


def _unreachable(urls: list[str]) -> str | None:
    """Why the hosts of ``urls`` cannot be reached (``"storage.googleapis.com: Name or service not known"``),
    or None when each accepts a connection within :data:`CONNECT_TIMEOUT` or is reached through a proxy.

    TFDS retries a failed connection ten times with a doubling pause (about 200 s per file, a warning
    each time) before it gives up; one connection per host tells the same in a moment.
    """
    proxies = urllib.request.getproxies()
    for host, port, scheme in sorted({_address(url) for url in urls if url.startswith(("http:", "https:"))}):
        if proxies.get(scheme) and not urllib.request.proxy_bypass(host):
            continue  # the proxy, not this machine, reaches the host
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as error:
            return f"{host}: {os_reason(error)}"
    return None


def _address(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), parts.scheme


def _files(urls: list[str]) -> str:
    """``urls`` in a few words: the one URL, or how many files from their common folder."""
    if len(urls) == 1:
        return urls[0]
    folder = os.path.commonprefix(urls).rsplit("/", 1)[0] + "/"
    return f"{len(urls)} files from {folder}"
