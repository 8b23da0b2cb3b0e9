"""`jvae-tf evaluate` and `jvae-tf traverse` on a run folder; one-line errors for a bad RUN_DIR."""

import dataclasses
import json
import os

import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image

from jointvae_tf.core.config import (
    DataConfig,
    LatentSpec,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.core.sampling import category_of_class
from jointvae_tf.data.pixels import to_unit_range
from jointvae_tf.evaluation.inference import encode_dataset
from jointvae_tf.evaluation.metrics import category_classes
from jointvae_tf.evaluation.report import EvaluationReport, evaluate_run, load_split
from jointvae_tf.run_folders.folder import RunFolder, open_run, prepare_run
from jointvae_tf.training.trainer import build_model, train

RUN = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(3, (4,)), hidden_units=32),
                data=DataConfig(name="four_shapes", max_examples=256), train=TrainConfig(epochs=1, batch_size=32))
PICTURES = {"all_traversals.png", "reconstructions.png", "samples.png", "samples_per_category.png"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an untrained model's checkpoint (what `train` leaves, minus the training)."""
    folder = str(tmp_path_factory.mktemp("run"))
    prepare_run(RUN, folder, resume=False)
    RunFolder(folder).checkpointer(build_model(RUN)).save(0)
    return folder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_evaluate_json_has_every_field(run_dir):
    result = invoke("evaluate", run_dir, "--max-examples", 64, "--split", "validation", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {f.name for f in dataclasses.fields(EvaluationReport)}
    assert report == evaluate_run(run_dir, "validation", 64).to_dict()  # the library's numbers, unchanged
    assert (report["split"], report["examples"], report["step"], report["dataset"]) == ("validation", 64, 0, "four_shapes")
    assert (report["cont"], report["disc"], report["num_classes"], report["run_dir"]) == (3, [4], 4, run_dir)
    assert len(report["kl_cont_per_dim"]) == 3 and len(report["kl_disc_per_variable"]) == 1
    assert report["cluster_mapping"] == "one_to_one" and 0 < report["loss"]["reconstruction"]


def test_evaluate_prints_a_table(run_dir):
    result = invoke("evaluate", run_dir, "--max-examples", 64)
    assert result.exit_code == 0, result.output
    assert "cluster accuracy" in result.stdout and "MIG" in result.stdout


@pytest.mark.parametrize("command", ["evaluate", "traverse"])
def test_bad_run_dir_is_one_line_and_exit_code_2(command, tmp_path):
    for bad in (tmp_path / "missing", tmp_path):  # no folder; a folder without config.json
        result = invoke(command, bad)
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: ")


def test_traverse_writes_every_listed_file(run_dir, tmp_path):
    out = tmp_path / "pictures"
    result = invoke("traverse", run_dir, "--out", out, "--steps", 6, "--upscale", 1, "--dim", 0, "--dim", 1,
                    "--max-examples", 32)
    assert result.exit_code == 0, result.output
    written = set(os.listdir(out))
    assert PICTURES | {"category_traversal_z0.png", "category_traversal_z1.png"} <= written
    assert any(name.startswith("traversal_z") and name.endswith(".gif") for name in written)
    assert all(name in result.output for name in written)


def test_traverse_rejects_a_dim_outside_the_latent_before_drawing_anything(run_dir, tmp_path):
    result = invoke("traverse", run_dir, "--out", tmp_path / "out", "--dim", 0, "--dim", 7, "--max-examples", 32)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "'--dim'" in result.output and "continuous dims in 0 .. 2" in result.output and "got 7" in result.output
    assert not (tmp_path / "out").exists()


def test_traverse_holds_the_category_a_class_name_asks_for(run_dir, tmp_path):
    """four_shapes' validation images are labelled, so they name the categories: --category NAME holds the
    purest category holding that class, the picture --category with its id draws."""
    examples = load_split(RUN, "validation", 64)
    model = open_run(run_dir).model
    classes, purity = category_classes(examples.labels, encode_dataset(model, to_unit_range(examples.images)).categories,
                                       examples.class_names, RUN.model.latent.disc)
    name = next(held for held in classes[0] if held)
    (category,) = category_of_class(name, classes, purity)
    drawn = {}
    for given in (name, category):
        out = tmp_path / str(given)
        result = invoke("traverse", run_dir, "--out", out, "--steps", 6, "--upscale", 1, "--gif-dims", 1,
                        "--max-examples", 64, "--category", given)
        assert result.exit_code == 0, result.output
        drawn[given] = (out / "all_traversals.png").read_bytes()
    assert drawn[name] == drawn[category]


@pytest.mark.parametrize("category, message", [
    ("hexagon", "Error: --category: no category holds class 'hexagon'; the categories hold "),
    ("4", "Error: --category: expected up to 1 ids (one per discrete variable), each below its count [4]"),
    ("1,x", "Error: --category: expected integers such as 3 or 3,-1, or a class name, got '1,x'"),
])
def test_traverse_refuses_a_category_before_drawing_anything(run_dir, tmp_path, category, message):
    """Ids are checked before any image is read; a class name once the validation images have named the
    categories, before any picture is drawn."""
    result = invoke("traverse", run_dir, "--out", tmp_path / "out", "--max-examples", 32, "--category", category)
    assert result.exit_code == 2 and result.output.splitlines()[-1].startswith(message)
    assert result.output.count("\n") == 1 or category == "hexagon"
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_training_writes_pictures_and_progress_gif_then_evaluates(tmp_path):
    run_dir = str(tmp_path / "run")
    train(dataclasses.replace(RUN, train=dataclasses.replace(RUN.train, epochs=2)), run_dir, verbose=0)
    pictures = os.path.join(run_dir, "pictures")
    assert PICTURES | {"training_progress.gif", "progress"} <= set(os.listdir(pictures))
    assert sorted(os.listdir(os.path.join(pictures, "progress"))) == ["epoch-0001.png", "epoch-0002.png"]
    with Image.open(os.path.join(pictures, "training_progress.gif")) as gif:
        assert gif.n_frames == 2
    result = invoke("evaluate", run_dir, "--max-examples", 64, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 2 * (256 // 32)
