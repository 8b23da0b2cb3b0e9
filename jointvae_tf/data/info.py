"""What a dataset is (metadata only, kept apart from the code that reads it), and the examples read from it."""

from __future__ import annotations

import dataclasses
import string

import numpy as np

from jointvae_tf.errors import JointVAEError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset, enough to size a model and to list it.

    ``image_size`` (pixels) and ``channels`` are the defaults a model should use; every loader can
    produce any supported size. ``num_classes == 0`` means the classes are the subfolders found on disk
    (``image_folder``). ``normalization`` is the recommended image normalisation (``config.NORMALIZATIONS``).
    """

    name: str
    description: str
    source: str
    image_size: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]
    factor_names: tuple[str, ...] = ()
    num_examples: int | None = None
    normalization: str = "none"


@dataclasses.dataclass
class Examples:
    """A split held in memory, already at the requested size.

    ``images``: uint8 ``[N, size, size, channels]``; ``labels``: int32 ``[N]`` in ``[0, num_classes)``;
    ``factors``: float32 ``[N, F]`` ordered as ``DatasetInfo.factor_names``, or None when unknown;
    ``class_names``: names of the label ids (label ``i`` is ``class_names[i]``).
    """

    images: np.ndarray
    labels: np.ndarray
    factors: np.ndarray | None
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """``labels`` as int32 if all lie in ``[0, num_classes)``, else JointVAEError naming ``where``."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise JointVAEError(f"{where}: label {labels[bad[0]]} of example {bad[0]} is out of range; "
                            f"expected {num_classes} classes")
    return labels.astype(np.int32)


FOUR_SHAPES = ("circle", "square", "star", "triangle")
SHAPE_FACTORS = ("shape", "scale", "rotation", "x", "y")
DIGITS = tuple(str(d) for d in range(10))
LETTERS = tuple(string.ascii_uppercase)
ARABIC_LETTERS = ("alef", "beh", "teh", "theh", "jeem", "hah", "khah", "dal", "thal", "reh", "zain", "seen",
                  "sheen", "sad", "dad", "tah", "zah", "ain", "ghain", "feh", "qaf", "kaf", "lam", "meem", "noon",
                  "heh", "waw", "yeh")
MATH_SYMBOLS = tuple(sorted(DIGITS + ("add", "dec", "div", "eq", "mul", "sub", "x", "y", "z")))
