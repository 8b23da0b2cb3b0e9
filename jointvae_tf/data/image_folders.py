"""Folder datasets: one subfolder of PNG/JPEG/BMP images per class (class names = sorted folder names).

Used by ``image_folder``, ``math_symbols`` and the Kaggle ``four_shapes`` download. Only the selected
files are decoded, in a thread pool, by the one image reader (:func:`~jointvae_tf.data.image_files.read_image`:
real bit depth, transparency over white, at most ``MAX_IMAGE_PIXELS``) and fitted to the model size.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from jointvae_tf.data.image_files import read_image
from jointvae_tf.data.info import FOUR_SHAPES, MATH_SYMBOLS, Examples
from jointvae_tf.data.resize import fit_image
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.progress import Progress, tracked

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
LAYOUT = "one subfolder per class holding .png/.jpg/.jpeg/.bmp images"


@dataclasses.dataclass(frozen=True)
class FolderLayout:
    """Where a folder dataset's class folders are: ``data_dir`` or its ``nested`` subfolder when that
    exists; ``classes`` are the folder names it may hold (any non-empty subset of them; empty: any names)."""

    nested: str | None = None
    classes: tuple[str, ...] = ()

    def root(self, data_dir: str | None) -> str:
        if not data_dir or not os.path.isdir(data_dir):
            raise ConfigError("data_dir", f"folder {data_dir!r} not found; expected {self.describe()}")
        nested = os.path.join(data_dir, self.nested or "")
        return nested if self.nested and os.path.isdir(nested) else data_dir

    def describe(self) -> str:
        where = f"a folder (or its {self.nested}/ subfolder) with " if self.nested else "a folder with "
        named = f" named among {', '.join(self.classes)}" if self.classes else ""
        return where + LAYOUT + named

    def class_names(self, data_dir: str | None) -> tuple[str, ...]:
        """The class folders in ``data_dir`` (or its nested folder), sorted; JointVAEError when there are none
        or, for a layout with known ``classes``, naming the folders outside them."""
        root = self.root(data_dir)
        classes = tuple(sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))))
        unknown = [name for name in classes if self.classes and name not in self.classes]
        if not classes or unknown:
            found = f"unknown class folders {unknown}" if unknown else "no class folders"
            raise JointVAEError(f"{root}: {found}; expected {self.describe()}")
        return classes

    def list_files(self, data_dir: str | None) -> tuple[tuple[str, ...], list[str], np.ndarray]:
        """(class names, image paths, int32 labels), in sorted order; every class folder must hold images."""
        root = self.root(data_dir)
        classes = self.class_names(data_dir)
        paths, labels = [], []
        for label, name in enumerate(classes):
            folder = os.path.join(root, name)
            files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
            if not files:
                raise JointVAEError(f"{folder}: empty class folder; expected {LAYOUT}")
            paths += [os.path.join(folder, f) for f in files]
            labels += [label] * len(files)
        return classes, paths, np.array(labels, np.int32)

    def read(self, data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
        """The selected images, uint8 ``[N, size, size, channels]``, with their folder labels (ids into the
        sorted class folders found, renumbered by the selection's classes); ``load_examples`` names them."""
        _, paths, labels = self.list_files(data_dir)
        chosen = selection.pick(labels)
        progress = Progress(f"Decoding {len(chosen)} images of {data_dir}", len(chosen), "image")
        with ThreadPoolExecutor() as pool:
            images = list(tracked(pool.map(lambda i: _decode(paths[i], size, channels), chosen), progress))
        images = np.stack(images) if images else np.zeros((0, size, size, channels), np.uint8)
        return Examples(images, selection.relabel(labels[chosen]), None)

    def available(self, data_dir: str | None) -> bool:
        try:
            self.list_files(data_dir)
        except JointVAEError:
            return False
        return True


def _decode(path: str, size: int, channels: int) -> np.ndarray:
    return fit_image(read_image(path, channels), size, channels)


IMAGE_FOLDER = FolderLayout()
MATH_SYMBOLS_FOLDER = FolderLayout(nested="dataset", classes=MATH_SYMBOLS)
KAGGLE_SHAPES = FolderLayout(nested="shapes", classes=FOUR_SHAPES)
