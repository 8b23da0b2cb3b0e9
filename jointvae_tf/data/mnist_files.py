"""MNIST as files: a Keras-style ``mnist.npz`` or the raw IDX files from Yann LeCun's site."""

from __future__ import annotations

import gzip
import os

import numpy as np

from jointvae_tf.data.info import Examples, check_labels
from jointvae_tf.data.paths import find_file
from jointvae_tf.data.resize import fit_images
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import ConfigError, JointVAEError

NPZ_FILE = "mnist.npz"
NPZ_LAYOUT = "a Keras mnist.npz holding x_train [N,28,28] uint8, y_train [N], x_test, y_test"
IDX_PREFIX = {"train": "train", "test": "t10k"}
IDX_LAYOUT = ("a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte (optionally .gz; '.idx3-ubyte' spelling accepted)")
_IDX_UBYTE = 0x08


def keras_datasets_dir() -> str:
    """Where ``keras.datasets`` keeps its downloads: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    return os.path.join(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"), "datasets")


def find_npz(data_dir: str | None) -> str:
    """``data_dir`` if it is a file, else ``data_dir/mnist.npz``; without ``data_dir``, the ``mnist.npz``
    that ``keras.datasets.mnist.load_data()`` downloaded (:func:`keras_datasets_dir`)."""
    return find_file(data_dir or keras_datasets_dir(), NPZ_FILE,
                     f"{NPZ_LAYOUT} (keras.datasets.mnist.load_data() downloads one to {keras_datasets_dir()})")


def read_npz(data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
    path = find_npz(data_dir)
    suffix = "train" if selection.pool == "train" else "test"
    try:
        with np.load(path) as archive:
            images, labels = archive[f"x_{suffix}"], archive[f"y_{suffix}"]
    except (KeyError, OSError, ValueError) as e:
        raise JointVAEError(f"{path}: cannot read ({e}); expected {NPZ_LAYOUT}") from None
    return _examples(images, labels, path, selection, size, channels)


def find_idx(data_dir: str | None, pool: str, kind: str) -> str:
    """Path of the IDX file of ``pool`` ("train" | "test") and ``kind`` ("images-idx3" | "labels-idx1")."""
    for name in (f"{IDX_PREFIX[pool]}-{kind}-ubyte", f"{IDX_PREFIX[pool]}-{kind.replace('-', '.')}-ubyte"):
        for suffix in ("", ".gz"):
            path = os.path.join(data_dir or "", name + suffix)
            if data_dir and os.path.isfile(path):
                return path
    raise ConfigError("data_dir", f"no {IDX_PREFIX[pool]}-{kind}-ubyte[.gz] in {data_dir!r}; expected {IDX_LAYOUT}")


def read_idx_file(path: str) -> np.ndarray:
    """The uint8 array of an IDX file: magic ``00 00 08 ndim``, ``ndim`` big-endian uint32 sizes, data."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        content = f.read()
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] != _IDX_UBYTE:
        raise JointVAEError(f"{path}: not an unsigned-byte IDX file; expected magic bytes 00 00 08 <ndim>")
    ndim, header = content[3], 4 + 4 * content[3]
    shape = tuple(int(d) for d in np.frombuffer(content[4:header], ">u4")) if len(content) >= header else ()
    data = np.frombuffer(content, np.uint8, offset=min(header, len(content)))
    if len(shape) != ndim or data.size != np.prod(shape):
        raise JointVAEError(f"{path}: truncated IDX file; expected the {ndim} sizes in its header and the data "
                            f"they describe")
    return data.reshape(shape)


def read_mnist_idx(data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
    images = read_idx_file(find_idx(data_dir, selection.pool, "images-idx3"))
    label_path = find_idx(data_dir, selection.pool, "labels-idx1")
    return _examples(images, read_idx_file(label_path), label_path, selection, size, channels)


def _examples(images: np.ndarray, labels: np.ndarray, path: str, selection: Selection, size: int,
              channels: int) -> Examples:
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8 or labels.shape != (len(images),):
        raise JointVAEError(f"{path}: images {images.shape} {images.dtype} with labels {labels.shape}; expected "
                            f"uint8 [N, H, W(, C)] images and one label each")
    labels = check_labels(labels, 10, path)
    chosen = selection.pick(labels)
    return Examples(fit_images(images[chosen], size, channels), selection.relabel(labels[chosen]), None)
