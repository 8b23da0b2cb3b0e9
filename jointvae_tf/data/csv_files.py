"""CSV datasets of the Kaggle layouts: "A-Z Handwritten Alphabets" and AHCD (Arabic characters).

Both are headerless integer CSVs with one example per line. They are streamed in chunks of lines, each
chunk parsed by numpy's C reader, so a 372k-row file never becomes Python lists of numbers.
"""

from __future__ import annotations

import glob
import itertools
import os

import numpy as np

from jointvae_tf.data.info import Examples, check_labels
from jointvae_tf.data.paths import find_file
from jointvae_tf.data.resize import fit_images
from jointvae_tf.data.splits import Selection
from jointvae_tf.errors import ConfigError, JointVAEError

AZ_FILE = "A_Z Handwritten Data.csv"
AZ_LAYOUT = f"'{AZ_FILE}': no header, per line a label 0-25 then 784 pixels (28x28, row-major)"
AHCD_FILES = {("train", "images"): "csvTrainImages*.csv", ("train", "labels"): "csvTrainLabel*.csv",
              ("test", "images"): "csvTestImages*.csv", ("test", "labels"): "csvTestLabel*.csv"}
AHCD_LAYOUT = ("AHCD folder with csvTrainImages 13440x1024.csv, csvTrainLabel 13440x1.csv, csvTestImages "
               "3360x1024.csv, csvTestLabel 3360x1.csv (no header; 32x32 column-major rows; labels 1-28)")
_LINES_PER_CHUNK = 8192


def read_csv_rows(path: str, columns: int, low: int, high: int) -> np.ndarray:
    """uint8 ``[lines, columns]`` of a headerless integer CSV whose values all lie in ``[low, high]``
    (``high <= 255``); JointVAEError naming the file and line for a bad row."""
    chunks = []
    with open(path) as f:
        for first_line in itertools.count(1, _LINES_PER_CHUNK):
            lines = list(itertools.islice(f, _LINES_PER_CHUNK))
            if not lines:
                break
            chunks.append(_parse_lines(lines, first_line, path, columns, low, high))
    if not chunks:
        raise JointVAEError(f"{path}: empty file; expected one row of {columns} integers per line")
    return np.concatenate(chunks)


def _parse_lines(lines: list[str], first_line: int, path: str, columns: int, low: int, high: int) -> np.ndarray:
    for number, line in enumerate(lines, first_line):
        if line.count(",") != columns - 1:
            raise JointVAEError(f"{path}: line {number} has {line.count(',') + 1} columns; expected {columns}")
    # Parsed as floats and checked for fractions: numpy 2.0's loadtxt truncates "0.5" to 0 for an integer
    # dtype (with a DeprecationWarning) where later versions refuse it.
    try:
        values = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
        not_integer = np.flatnonzero((values != np.round(values)).any(axis=1))
    except ValueError:
        not_integer = [next(i for i, line in enumerate(lines) if not _is_number_row(line))]
    if len(not_integer):
        raise JointVAEError(f"{path}: line {first_line + not_integer[0]} holds a value that is not an integer; "
                            f"expected {columns} integers")
    bad = np.flatnonzero(((values < low) | (values > high)).any(axis=1))
    if len(bad):
        raise JointVAEError(f"{path}: line {first_line + bad[0]} has a value outside {low}..{high}")
    return values.astype(np.uint8)


def _is_number_row(line: str) -> bool:
    try:
        np.array(line.split(","), dtype=np.float64)
    except ValueError:
        return False
    return True


def find_az_csv(data_dir: str | None) -> str:
    """The A-Z CSV: ``data_dir`` itself or the file of that name inside it."""
    return find_file(data_dir, AZ_FILE, AZ_LAYOUT)


def read_az_letters(data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
    """Kaggle "A-Z Handwritten Alphabets" (label 0-25 = A-Z, 28x28 pixels), one pool."""
    path = find_az_csv(data_dir)
    rows = read_csv_rows(path, 1 + 28 * 28, 0, 255)
    labels = check_labels(rows[:, 0], 26, f"{path} (column 1)")
    chosen = selection.pick(labels)
    images = rows[chosen, 1:].reshape(-1, 28, 28, 1)
    return Examples(fit_images(images, size, channels), selection.relabel(labels[chosen]), None)


def find_ahcd_files(data_dir: str | None, pool: str) -> tuple[str, str]:
    """(images, labels) CSV paths of AHCD ``pool`` ("train" | "test") in ``data_dir``."""
    found = []
    for kind in ("images", "labels"):
        matches = sorted(glob.glob(os.path.join(glob.escape(data_dir or ""), AHCD_FILES[pool, kind])))
        if not data_dir or not matches:
            raise ConfigError("data_dir", f"no {AHCD_FILES[pool, kind]} in {data_dir!r}; expected {AHCD_LAYOUT}")
        found.append(matches[0])
    return found[0], found[1]


def read_arabic_chars(data_dir: str | None, selection: Selection, size: int, channels: int) -> Examples:
    """Kaggle AHCD: 32x32 images stored column-major (transposed here to stand upright), labels 1-28."""
    image_path, label_path = find_ahcd_files(data_dir, selection.pool)
    images = read_csv_rows(image_path, 32 * 32, 0, 255).reshape(-1, 32, 32).transpose(0, 2, 1)
    labels = read_csv_rows(label_path, 1, 1, 28)[:, 0].astype(np.int32) - 1
    if len(images) != len(labels):
        raise JointVAEError(f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path}; "
                            f"expected one label line per image line")
    chosen = selection.pick(labels)
    return Examples(fit_images(images[chosen, :, :, None], size, channels), selection.relabel(labels[chosen]), None)
