"""How separable are a dataset's classes in pixel space? 1-nearest-neighbour accuracy per normalisation.

A supervised reference for the quality benchmark (not a model): each test image takes the label of its
nearest training image (Euclidean distance on the model-size pixels in [0, 1]). A dataset whose classes
1-NN cannot tell apart after normalisation asks the unsupervised discrete code for more than pixels give.
``--ground`` first subtracts each image's ground (the median of its border pixels) and stretches the rest
to 0-255: a what-if for images whose background is not black, which the normalisations take for ink.
Datasets as in ``quality_benchmark.py``: ``NAME`` or ``NAME:DATA_DIR``.

    python scripts/pixel_baseline.py --data four_shapes:/work/data/heldout_shapes --data npz:/work/data/digits/dev.npz
    python scripts/pixel_baseline.py --data four_shapes:/work/data/heldout_shapes --ground
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from jointvae_tf.core.config import NORMALIZATIONS, DataConfig  # noqa: E402
from jointvae_tf.data import load_examples  # noqa: E402
from jointvae_tf.data.normalize import normalize_images  # noqa: E402

SIZE = 32
TRAIN_EXAMPLES = 4000  # the procedural generator renders as many as asked: as many as the held-out sets hold


def subtract_ground(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` minus each image's border median, clipped at 0 and stretched to peak 255."""
    pixels = images.astype(np.float32)
    border = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], 1)
    pixels = np.clip(pixels - np.median(border.reshape(len(pixels), -1), 1)[:, None, None, None], 0, None)
    peak = np.maximum(pixels.reshape(len(pixels), -1).max(1), 1)[:, None, None, None]
    return np.round(255 * pixels / peak).astype(np.uint8)


def nearest_neighbour_accuracy(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
                               test_labels: np.ndarray) -> float:
    """Fraction of ``test`` images (uint8 ``[M, H, W, C]``) whose nearest ``train`` image has their label."""
    a = train.reshape(len(train), -1).astype(np.float32) / 255
    b = test.reshape(len(test), -1).astype(np.float32) / 255
    distances = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None]
    return float((train_labels[distances.argmin(1)] == test_labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="NAME or NAME:DATA_DIR (repeatable)")
    parser.add_argument("--ground", action="store_true", help="subtract each image's ground before normalising")
    args = parser.parse_args()
    print(f"| dataset | train | test | {' | '.join(NORMALIZATIONS)} |\n|---|---|---|{'---|' * len(NORMALIZATIONS)}")
    for spec in args.data:
        name, _, data_dir = spec.partition(":")
        config = DataConfig(name=name, data_dir=data_dir or None,
                            max_examples=None if data_dir else TRAIN_EXAMPLES)
        train, test = (load_examples(config, split, SIZE, 1) for split in ("train", "test"))
        prepare = subtract_ground if args.ground else (lambda images: images)
        raw_train, raw_test = prepare(train.images), prepare(test.images)
        accuracies = []
        for method in NORMALIZATIONS:
            normalized = [x if method == "none" else normalize_images(x, method) for x in (raw_train, raw_test)]
            accuracies.append(nearest_neighbour_accuracy(normalized[0], train.labels, normalized[1], test.labels))
        print(f"| {spec}{' (ground subtracted)' if args.ground else ''} | {len(train.labels)} | {len(test.labels)} | "
              + " | ".join(f"{a:.3f}" for a in accuracies) + " |", flush=True)


if __name__ == "__main__":
    main()
