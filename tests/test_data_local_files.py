"""Every local reader reads small fixtures written in the real Kaggle / Keras / IDX layouts, and every bad
input is a JointVAEError naming the file (and the line, for CSV)."""

import gzip
import os

import numpy as np
import pytest
from PIL import Image

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import load_examples
from jointvae_tf.data.csv_files import read_csv_rows
from jointvae_tf.data.info import ARABIC_LETTERS
from jointvae_tf.errors import ConfigError, JointVAEError


def load(name, data_dir, split="train", size=32, channels=1, **config):
    return load_examples(DataConfig(name=name, data_dir=str(data_dir), **config), split, size, channels)


def write_csv(path, rows):
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows))


def top_left_bar(side):
    """An asymmetric pattern: a horizontal bar in the top-left corner."""
    image = np.zeros((side, side), np.uint8)
    image[1:3, 1:10] = 255
    return image


# --- A-Z Handwritten Alphabets -----------------------------------------------------------------------

def az_rows(count):
    """Example i: label i % 26 and the top-left bar at grey level 100 + i % 26."""
    return [[i % 26] + list((top_left_bar(28) > 0).ravel() * (100 + i % 26)) for i in range(count)]


def test_az_letters_reads_file_or_folder_and_pads_28_to_32(tmp_path):
    csv = tmp_path / "A_Z Handwritten Data.csv"
    write_csv(csv, az_rows(52))
    for data_dir in (csv, tmp_path):
        examples = load("az_letters", data_dir, validation_fraction=0.1)
        assert examples.images.shape == (42, 32, 32, 1) and examples.labels.dtype == np.int32
        for image, label in zip(examples.images, examples.labels):
            np.testing.assert_array_equal(image[:, :, 0], np.pad((top_left_bar(28) > 0) * (100 + label), 2))
    splits = [load("az_letters", csv, split, validation_fraction=0.1).labels for split in ("validation", "test")]
    assert [len(s) for s in splits] == [5, 5]
    assert examples.class_names == tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_az_wrong_column_count_names_file_and_line(tmp_path):
    csv = tmp_path / "A_Z Handwritten Data.csv"
    rows = az_rows(5)
    rows[3] = rows[3][:-1]
    write_csv(csv, rows)
    with pytest.raises(JointVAEError, match=r"A_Z Handwritten Data.csv: line 4 has 784 columns; expected 785"):
        load("az_letters", tmp_path)


def test_az_label_out_of_range_and_bad_value_name_the_line(tmp_path):
    csv = tmp_path / "A_Z Handwritten Data.csv"
    rows = az_rows(5)
    rows[2][0] = 26
    write_csv(csv, rows)
    with pytest.raises(JointVAEError, match=r"Data.csv \(column 1\): label 26 of example 2"):
        load("az_letters", tmp_path)
    rows[2][0], rows[1][5] = 0, 256
    write_csv(csv, rows)
    with pytest.raises(JointVAEError, match=r"Data.csv: line 2 has a value outside 0..255"):
        load("az_letters", tmp_path)
    for value in ("x", "0.5"):  # 0.5: pixels exported as fractions must not be truncated to 0
        rows[1][5] = value
        write_csv(csv, rows)
        with pytest.raises(JointVAEError, match=r"Data.csv: line 2 holds a value that is not an integer"):
            load("az_letters", tmp_path)
    csv.write_text("")
    with pytest.raises(JointVAEError, match=r"Data.csv: empty file; expected one row of 785 integers per line"):
        load("az_letters", tmp_path)


def test_a_bad_line_past_the_first_chunk_is_named_by_its_line_in_the_file(tmp_path):
    labels = tmp_path / "csvTrainLabel 13440x1.csv"  # AHCD's label file: 13,440 lines, read in chunks
    rows = [[1 + i % 28] for i in range(13440)]
    rows[9000][0] = 29
    write_csv(labels, rows)
    with pytest.raises(JointVAEError, match=r"csvTrainLabel 13440x1.csv: line 9001 has a value outside 1..28"):
        read_csv_rows(str(labels), 1, 1, 28)


def test_az_missing_file_says_what_is_expected(tmp_path):
    with pytest.raises(ConfigError, match=r"A_Z Handwritten Data.csv.*not found; expected 'A_Z Handwritten "
                                          r"Data.csv': no header, per line a label 0-25 then 784 pixels"):
        load("az_letters", tmp_path)


# --- AHCD Arabic characters -------------------------------------------------------------------------

def ahcd_image(label):
    """The upright image of an example with AHCD label ``label`` (1-28): the top-left bar at grey 100 + label."""
    return (top_left_bar(32) > 0) * (100 + label)


def write_ahcd(folder, train_labels=(1, 28, 5, 7), test_labels=(2, 3)):
    for pool, labels, count in (("Train", train_labels, 13440), ("Test", test_labels, 3360)):
        # AHCD stores each image column-major: the CSV row is the transposed image, flattened.
        write_csv(folder / f"csv{pool}Images {count}x1024.csv", [ahcd_image(label).T.ravel() for label in labels])
        write_csv(folder / f"csv{pool}Label {count}x1.csv", [[label] for label in labels])


def test_arabic_chars_come_out_upright_with_0_based_labels(tmp_path):
    write_ahcd(tmp_path)
    examples = load("arabic_chars", tmp_path, validation_fraction=0.25)
    assert len(examples) == 3 and set(examples.labels) <= {0, 27, 4, 6}
    for image, label in zip(examples.images, examples.labels):
        np.testing.assert_array_equal(image[:, :, 0], ahcd_image(label + 1))
    test = load("arabic_chars", tmp_path, "test")
    assert sorted(test.labels) == [1, 2] and test.class_names == ARABIC_LETTERS
    assert test.class_names[:3] == ("alef", "beh", "teh")


def test_arabic_label_or_pixel_out_of_range_names_the_file_and_line(tmp_path):
    write_ahcd(tmp_path, train_labels=(1, 29, 3, 4))
    with pytest.raises(JointVAEError, match=r"csvTrainLabel 13440x1.csv: line 2 has a value outside 1..28"):
        load("arabic_chars", tmp_path)
    write_ahcd(tmp_path)
    pixels = tmp_path / "csvTestImages 3360x1024.csv"
    pixels.write_text(pixels.read_text().replace("0,", "256,", 1))
    with pytest.raises(JointVAEError, match=r"csvTestImages 3360x1024.csv: line 1 has a value outside 0..255"):
        load("arabic_chars", tmp_path, "test")


@pytest.mark.parametrize("missing", ["csvTrainImages 13440x1024.csv", "csvTrainLabel 13440x1.csv"])
def test_arabic_missing_file_names_the_data_dir_setting_and_the_layout(tmp_path, missing):
    write_ahcd(tmp_path)
    os.remove(tmp_path / missing)
    pattern = missing.split(" ")[0]
    with pytest.raises(ConfigError, match=rf"^data.data_dir: no {pattern}\*.csv in '.*'; expected AHCD folder "
                                          r"with csvTrainImages 13440x1024.csv"):
        load("arabic_chars", tmp_path)


def test_arabic_label_count_mismatch_is_an_error(tmp_path):
    write_ahcd(tmp_path)
    write_csv(tmp_path / "csvTestLabel 3360x1.csv", [[1]])
    with pytest.raises(JointVAEError, match=r"csvTestLabel 3360x1.csv: 1 labels for 2 images"):
        load("arabic_chars", tmp_path, "test")


# --- image folders: image_folder, math_symbols, Kaggle four_shapes ---------------------------------

def bar_image(side, level, mode):
    """An asymmetric marker at grey ``level``: a bar along the top edge over the left half."""
    pixels = np.zeros((side, side, 3), np.uint8)
    pixels[:side // 8, :side // 2] = level
    return Image.fromarray(pixels).convert(mode)


def class_level(label):
    return 100 + 7 * label


def write_folder(root, classes, per_class=3, side=40, mode="L"):
    """``per_class`` marker images per class folder, written in the given (unsorted) order; the bar's
    grey level tells the class's position in sorted order, so a reader's labels can be checked."""
    ranks = {name: rank for rank, name in enumerate(sorted(classes))}
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            bar_image(side, class_level(ranks[name]), mode).save(root / name / f"{i}.png")


def assert_upright_with_labels(examples):
    """Every image shows the bar at the top left (not transposed, not flipped) in its label's grey level."""
    size = examples.images.shape[1]
    bar = examples.images[:, size // 16, size // 4, 0].astype(int)
    np.testing.assert_allclose(bar, class_level(examples.labels), atol=2)
    assert np.all(examples.images[:, size - size // 16, size // 4] == 0)  # not flipped upside down
    assert np.all(examples.images[:, size // 4, size // 16] == 0)  # not transposed
    assert np.all(examples.images[:, size // 16, size - size // 4] == 0)  # not mirrored


def test_image_folder_labels_are_sorted_folder_names_in_grey_or_rgb(tmp_path):
    write_folder(tmp_path, ["dog", "cat"], mode="RGB")
    grey = load("image_folder", tmp_path, max_examples=4)
    assert grey.images.shape == (4, 32, 32, 1) and grey.class_names == ("cat", "dog")
    assert_upright_with_labels(grey)
    rgb = load("image_folder", tmp_path, size=64, channels=3, validation_fraction=0.2)
    assert rgb.images.shape == (4, 64, 64, 3)
    assert_upright_with_labels(rgb)
    assert np.all(rgb.images[..., 0] == rgb.images[..., 2])


def test_kaggle_four_shapes_accepts_parent_or_shapes_folder(tmp_path):
    write_folder(tmp_path / "shapes", ("triangle", "star", "circle", "square"), side=200)
    for data_dir in (tmp_path, tmp_path / "shapes"):
        examples = load("four_shapes", data_dir, "test", size=64, validation_fraction=0.25)
        assert examples.images.shape == (3, 64, 64, 1) and examples.factors is None
        assert examples.class_names == ("circle", "square", "star", "triangle")
        assert_upright_with_labels(examples)


def test_math_symbols_reads_its_nineteen_classes_in_sorted_order(tmp_path):
    names = [str(d) for d in range(10)] + ["add", "dec", "div", "eq", "mul", "sub", "x", "y", "z"]
    write_folder(tmp_path / "dataset", names[::-1], per_class=2)
    examples = load("math_symbols", tmp_path, validation_fraction=0.1)
    assert examples.class_names == tuple(names)
    assert len(examples) == 38 - 2 * 4 and set(examples.labels) <= set(range(19))
    assert_upright_with_labels(examples)
    everything = load("math_symbols", tmp_path / "dataset", validation_fraction=0.1, max_examples=100)
    assert len(everything) == 30


def test_math_symbols_takes_any_of_its_class_folders_and_names_others(tmp_path):
    write_folder(tmp_path / "dataset", ["add", "sub"])
    assert load("math_symbols", tmp_path).class_names == ("add", "sub")
    write_folder(tmp_path / "dataset", ["cat"])
    with pytest.raises(JointVAEError, match=r"dataset: unknown class folders \['cat'\]; expected .*div"):
        load("math_symbols", tmp_path)


def test_empty_class_folder_and_missing_folder_are_errors(tmp_path):
    write_folder(tmp_path, ["a", "b"])
    (tmp_path / "c").mkdir()
    with pytest.raises(JointVAEError, match=r"c: empty class folder"):
        load("image_folder", tmp_path)
    layout = r"one subfolder per class holding .png/.jpg/.jpeg/.bmp images"
    with pytest.raises(ConfigError, match=rf"^data.data_dir: folder '.*nowhere' not found; expected a folder with "
                                          rf"{layout}$"):
        load("image_folder", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=rf"^data.data_dir: folder '.*nowhere' not found; expected a folder \(or "
                                          rf"its dataset/ subfolder\) with {layout} named among 0, 1, .*, y, z$"):
        load("math_symbols", tmp_path / "nowhere")


def test_files_beside_the_class_folders_are_not_classes(tmp_path):
    (tmp_path / "README.txt").write_text("downloaded from Kaggle")
    with pytest.raises(JointVAEError, match=rf"^{tmp_path}: no class folders; expected a folder with one subfolder"):
        load("image_folder", tmp_path)
    write_folder(tmp_path, ["b", "a"])
    assert load("image_folder", tmp_path).class_names == ("a", "b")


def test_a_split_with_no_images_is_empty_with_the_image_shape(tmp_path):
    write_folder(tmp_path, ["a", "b"], per_class=2)  # 4 images: a tenth held out rounds to none
    examples = load("image_folder", tmp_path, "validation", size=64, channels=3)
    assert examples.images.shape == (0, 64, 64, 3) and examples.images.dtype == np.uint8 and len(examples) == 0


def test_decoding_shows_how_many_images_of_which_folder(tmp_path, capsys):
    write_folder(tmp_path, ["a", "b"])
    load("image_folder", tmp_path, max_examples=3)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"Decoding 3 images of {tmp_path}"
    assert "3/3" in printed[-1] and "/image" in printed[-1]  # the bar counts images, ends once


def test_unreadable_image_names_the_file(tmp_path):
    write_folder(tmp_path, ["a", "b"])
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(JointVAEError, match=r"broken.png: not an image file; expected a PNG, JPEG or BMP$"):
        load("image_folder", tmp_path, validation_fraction=0.01)


# --- Keras mnist.npz and raw IDX ----------------------------------------------------------------------

def digits(count):
    return np.stack([top_left_bar(28)] * count), np.arange(count, dtype=np.uint8) % 10


def test_npz_reads_train_and_test(tmp_path):
    (x_train, y_train), (x_test, y_test) = digits(20), digits(4)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    train = load("npz", tmp_path / "mnist.npz", validation_fraction=0.1)
    assert train.images.shape == (18, 32, 32, 1)
    assert sorted(load("npz", tmp_path, "test").labels) == [0, 1, 2, 3]


def test_npz_without_data_dir_is_the_one_keras_datasets_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(JointVAEError, match=r"mnist.npz' not found.*keras.datasets.mnist.load_data\(\)"):
        load_examples(DataConfig(name="npz"), "test", 32, 1)
    (tmp_path / "datasets").mkdir()
    (x_train, y_train), (x_test, y_test) = digits(6), digits(4)
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert sorted(load_examples(DataConfig(name="npz"), "test", 32, 1).labels) == [0, 1, 2, 3]


def test_npz_missing_key_or_bad_label_names_the_file(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=digits(3)[0], y_train=np.array([1, 2, 10]))
    with pytest.raises(JointVAEError, match=r"mnist.npz: label 10 of example 2"):
        load("npz", tmp_path)
    with pytest.raises(JointVAEError, match=r"mnist.npz: cannot read .*x_test"):
        load("npz", tmp_path, "test")


def write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    (gzip.open if compress else open)(path, "wb").write(header + array.tobytes())


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_with_and_without_gzip(tmp_path, compress):
    suffix = ".gz" if compress else ""
    for prefix, count in (("train", 10), ("t10k", 3)):
        images, labels = digits(count)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    test = load("mnist_idx", tmp_path, "test")
    assert sorted(test.labels) == [0, 1, 2]
    np.testing.assert_array_equal(test.images[0, :, :, 0], np.pad(top_left_bar(28), 2))


def test_truncated_idx_names_the_file(tmp_path):
    images, labels = digits(3)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + np.array([3, 28, 28], ">u4").tobytes())
    with pytest.raises(JointVAEError, match=r"t10k-images-idx3-ubyte: truncated IDX file"):
        load("mnist_idx", tmp_path, "test")
    os.remove(tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(JointVAEError, match=r"no t10k-images-idx3-ubyte\[.gz\]"):
        load("mnist_idx", tmp_path, "test")
