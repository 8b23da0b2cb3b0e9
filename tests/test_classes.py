"""Training on a subset of classes (`--classes`): only those classes are read, their labels renumbered
densely in the dataset's order, their names kept in config.json, and the discrete code sized to them.
Fixtures are written in the real layouts, each class marked so that a wrong label would show."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image

from jointvae_tf.core.config import DataConfig
from jointvae_tf.data import load_examples, narrow_classes
from jointvae_tf.data.info import MATH_SYMBOLS
from jointvae_tf.data.resize import fit_images
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.run_folders.folder import open_run
from jointvae_tf.training.presets import build_run_config
from tfds_mock import mock_tfds

STUDY_SYMBOLS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "add", "sub", "mul", "div")


def marked(label, side, rng=None):
    """A dark image (noisy with ``rng``) whose class ``label`` (0-31) is spelt by a bright bar: row
    ``label % 8`` of the top half, column block ``label // 8``; asymmetric, so a flipped or transposed
    reader misreads it."""
    image = np.zeros((side, side), np.uint8) if rng is None else rng.integers(0, 30, (side, side), dtype=np.uint8)
    cell = side // 16
    row, column = 2 * cell * (label % 8), (label // 8) * side // 4
    image[row:row + cell, column:column + side // 4] = 255
    return image


def label_of(image, labels, side):
    """Which of ``labels`` a :func:`marked` image of ``side`` pixels, read at ``image``'s size, spells: the
    nearest noise-free drawing brought to that size as the readers do."""
    templates = fit_images(np.stack([marked(label, side) for label in labels])[..., None], image.shape[0], 1)
    distances = np.abs(templates.astype(float) - image.astype(float)).sum(axis=(1, 2, 3))
    return labels[int(np.argmin(distances))]


def write_math_symbols(root, symbols, per_class=6, side=45):
    """The Kaggle "Handwritten Math Symbol and Digit Dataset" layout: dataset/<symbol>/<n>.jpg, as a user
    who kept only ``symbols`` would have it."""
    rng = np.random.default_rng(1)
    for symbol in symbols:
        (root / "dataset" / symbol).mkdir(parents=True)
        for i in range(per_class):
            image = marked(MATH_SYMBOLS.index(symbol), side, rng)
            Image.fromarray(image).save(root / "dataset" / symbol / f"{symbol}_{i}.png")


def write_npz(path, per_digit=8):
    """A Keras-style mnist.npz whose images spell their digit."""
    rng = np.random.default_rng(2)
    labels = np.arange(10 * per_digit, dtype=np.uint8) % 10
    images = np.stack([marked(int(d), 28, rng) for d in labels])
    np.savez(path, x_train=images, y_train=labels, x_test=images[:20], y_test=labels[:20])


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, [line for line in result.stderr.splitlines() if line.strip()]


def test_npz_digits_0_to_4_give_5_classes_and_a_10_way_code(tmp_path):
    write_npz(tmp_path / "mnist.npz")
    run = build_run_config("npz", {"data.data_dir": str(tmp_path), "data.classes": ("4", "3", "2", "1", "0")})
    assert run.data.classes == ("0", "1", "2", "3", "4") and run.model.latent.disc == (10,)
    examples = load_examples(run.data, "train", 32, 1)
    assert examples.class_names == ("0", "1", "2", "3", "4") and sorted(set(examples.labels)) == [0, 1, 2, 3, 4]
    assert len(examples) == 5 * 8 - round(0.1 * 5 * 8)  # only the chosen digits, less the validation tenth


def test_labels_are_renumbered_in_the_dataset_order(tmp_path):
    write_npz(tmp_path / "mnist.npz")
    examples = load_examples(DataConfig(name="npz", data_dir=str(tmp_path), classes=("7", "3")), "test", 32, 1)
    assert examples.class_names == ("3", "7") and examples.labels.dtype == np.int32  # as without --classes
    assert [label_of(image, range(10), 28) for image in examples.images] == [(3, 7)[l] for l in examples.labels]


def test_unknown_class_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"^data.classes: unknown class 'ten'; expected names among 0, 1, 2, "):
        build_run_config("mnist", {"data.classes": ("1", "ten")})
    code, _, err = cli("train", "--dataset", "fashion_mnist", "--classes", "coat,hat")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("Error: --classes: unknown class 'hat'; expected names among t-shirt/top, trouser")


def test_math_symbols_reads_the_folders_found_and_names_unknown_ones(tmp_path):
    write_math_symbols(tmp_path, STUDY_SYMBOLS)
    run = build_run_config("math_symbols", {"data.data_dir": str(tmp_path)})
    assert run.data.classes == tuple(sorted(STUDY_SYMBOLS)) and run.model.latent.disc == (28,)
    examples = load_examples(run.data, "train", 32, 1)
    assert examples.class_names == run.data.classes
    assert [label_of(image, range(len(MATH_SYMBOLS)), 45) for image in examples.images] == \
        [MATH_SYMBOLS.index(run.data.classes[label]) for label in examples.labels]
    (tmp_path / "dataset" / "pi").mkdir()
    (tmp_path / "dataset" / "sqrt").mkdir()
    with pytest.raises(JointVAEError, match=r"unknown class folders \['pi', 'sqrt'\]; expected .* named among 0, 1"):
        build_run_config("math_symbols", {"data.data_dir": str(tmp_path)})


def test_a_run_can_be_looked_at_on_some_of_its_classes(tmp_path):
    write_npz(tmp_path / "mnist.npz")
    run = DataConfig(name="npz", data_dir=str(tmp_path), classes=("2", "5", "7"))
    assert narrow_classes(run, ("7", "2")).classes == ("2", "7")
    assert narrow_classes(run, ()) == run
    with pytest.raises(ConfigError, match=r"^data.classes: unknown class '3'; expected names among 2, 5, 7$"):
        narrow_classes(run, ("3",))


def test_procedural_shapes_render_only_the_chosen_ones():
    examples = load_examples(DataConfig(classes=("triangle", "circle"), max_examples=40), "train", 32, 1)
    assert examples.class_names == ("circle", "triangle") and np.bincount(examples.labels).tolist() == [20, 20]
    assert examples.factors[:, 0].tolist() == [(0, 3)[label] for label in examples.labels]  # shape factor


def test_tfds_reads_only_the_chosen_labels():
    def stored(builder, split, **kwargs):
        images = np.zeros((30, 28, 28, 1), np.uint8)
        images[:, 0, 0, 0] = np.arange(30)  # the example's position, to check which ones were read
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(30, dtype=np.int64) % 10})

    with mock_tfds(as_dataset_fn=stored):
        examples = load_examples(DataConfig(name="kmnist", classes=("wo", "ki")), "test", 28, 1)
    assert examples.class_names == ("ki", "wo")
    positions = examples.images[:, 0, 0, 0]
    assert sorted(positions.tolist()) == [1, 9, 11, 19, 21, 29]
    assert examples.labels.tolist() == [0 if p % 10 == 1 else 1 for p in positions]


@pytest.mark.slow
def test_a_14_symbol_math_folder_trains_and_evaluates_one_to_one_with_disc_14(tmp_path):
    write_math_symbols(tmp_path / "kaggle", STUDY_SYMBOLS, per_class=5)
    run_dir = tmp_path / "run"
    code, out, err = cli("train", "--dataset", "math_symbols", "--data-dir", tmp_path / "kaggle", "--cont", 2,
                         "--disc", 14, "--epochs", 1, "--batch-size", 16, "--out", run_dir)
    assert code == 0, err
    assert "on 14 classes of math_symbols (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, add, div, mul, sub)" in out
    stored = json.load(open(run_dir / "config.json"))
    assert stored["model"]["latent"]["disc"] == [14] and len(stored["data"]["classes"]) == 14
    assert open_run(str(run_dir)).class_names == tuple(stored["data"]["classes"])
    code, out, err = cli("evaluate", run_dir, "--split", "validation", "--json", "--class-change-examples", 4)
    assert code == 0, err
    report = json.loads(out)
    assert report["num_classes"] == 14 and report["disc"] == [14]
    code, out, err = cli("evaluate", run_dir, "--split", "validation", "--json", "--class-change-examples", 4,
                         "--classes", "sub,add")
    assert code == 0, err
    assert json.loads(out)["num_classes"] == 2
    code, out, err = cli("evaluate", run_dir, "--classes", "pi")
    assert code == 2 and err[0].startswith("Error: --classes: unknown class 'pi'; expected names among 0, 1, 2")
    code, out, err = cli("train", "--out", run_dir, "--resume", "--classes", "sub,add,0,1,2,3,4,5,6,7,8,9,mul,div")
    assert code == 0, err
    code, out, err = cli("train", "--out", run_dir, "--resume", "--classes", "0,1")
    assert code == 2 and err[0].startswith("Error: --classes: the run was trained with")
