"""The export answers what TF-Serving would ask of it: four signatures, exact decodes, reproducible samples.

TF-Serving itself cannot be installed here; ``saved_model_cli`` (which shows and runs signatures the way
the server does) and a fresh Python process stand in for it in the slow tests.
"""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from serving_stubs import make_run
from tensorflow.core.protobuf import saved_model_pb2

from jointvae_tf.core import latents
from jointvae_tf.core.config import DataConfig, LatentSpec, ModelConfig, RunConfig
from jointvae_tf.data import pixels
from jointvae_tf.data.preparation import Preparation
from jointvae_tf.errors import JointVAEError, RunFailure
from jointvae_tf.run_folders.folder import RunFolder, open_run, prepare_run
from jointvae_tf.serving import export
from jointvae_tf.training.trainer import build_model

SIGNATURES = ["category_of_class", "encode", "encode_image", "encode_pixels", "sample", "serving_default", "traverse"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``(run_dir, export_dir, loaded SavedModel, model from the run)`` for a cont 3, disc (4,) run."""
    root = tmp_path_factory.mktemp("export")
    run_dir = make_run(str(root / "run"))
    export_dir = export.export_run(run_dir, out=str(root / "saved_models"))
    return run_dir, export_dir, tf.saved_model.load(export_dir), open_run(run_dir).model


def sample(loaded, seeds, categories):
    return loaded.signatures["sample"](seed=tf.constant(seeds, tf.int64), category=tf.constant(categories, tf.int32))


def test_layout_signatures_and_config_round_trip(exported):
    run_dir, export_dir, loaded, _ = exported
    assert export_dir.endswith(os.path.join("saved_models", "jointvae", "1"))
    assert sorted(loaded.signatures) == SIGNATURES
    config = export.ExportConfig.load(export_dir)
    assert config == export.ExportConfig(
        latent=LatentSpec(3, (4,)), image_shape=(32, 32, 1), dataset="four_shapes",
        class_names=("circle", "square", "star", "triangle"), run_dir=os.path.abspath(run_dir), step=0,
        traverse_steps=10, signatures=("serving_default", "sample", "encode", "encode_image", "encode_pixels",
                                       "category_of_class", "traverse"), preparation=Preparation(32, 1),
        category_classes=config.category_classes, category_purity=config.category_purity)
    (classes,), (purity,) = config.category_classes, config.category_purity  # one discrete variable
    assert len(classes) == len(purity) == 4 and set(classes) <= {"", "circle", "square", "star", "triangle"}
    assert all(0 < share <= 1 for name, share in zip(classes, purity) if name)


def test_decode_equals_the_in_memory_decoder(exported):
    *_, loaded, model = exported
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 3)).astype(np.float32)
    c = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 5)]
    images = loaded.signatures["serving_default"](z=tf.constant(z), c=tf.constant(c))["images"]
    assert images.shape == (5, 32, 32, 1)
    np.testing.assert_allclose(images, model.decode(np.concatenate([z, c], 1)), atol=1e-5)


def test_sample_is_reproducible_per_row_and_honours_category(exported):
    *_, loaded, model = exported
    first = sample(loaded, [7, 8, 9], [[2], [-1], [-1]])
    again = sample(loaded, [8], [[-1]])
    np.testing.assert_allclose(first["images"], sample(loaded, [7, 8, 9], [[2], [-1], [-1]])["images"], atol=1e-6)
    np.testing.assert_array_equal(first["z"][1], again["z"][0])  # a row depends on its own seed only
    np.testing.assert_array_equal(first["categories"][1], again["categories"][0])
    np.testing.assert_allclose(first["images"][1], again["images"][0], atol=1e-6)  # conv rounding varies with N
    assert first["categories"][0, 0] == 2 and np.argmax(first["c"][0]) == 2
    np.testing.assert_array_equal(np.argmax(first["c"], -1), first["categories"][:, 0])
    np.testing.assert_allclose(first["images"], model.decode(tf.concat([first["z"], first["c"]], -1)), atol=1e-5)
    png = tf.io.decode_png(first["png_bytes"][0]).numpy()
    np.testing.assert_array_equal(png, pixels.to_uint8(first["images"][0].numpy()))
    drawn = sample(loaded, np.arange(200), np.full((200, 1), -1))["categories"].numpy()
    assert set(drawn[:, 0]) == {0, 1, 2, 3}


def test_encode_agrees_with_the_model(exported):
    *_, loaded, model = exported
    images = np.random.default_rng(1).random((6, 32, 32, 1)).astype(np.float32)
    encoded = loaded.signatures["encode"](images=tf.constant(images))
    expected = model.encode(images)
    np.testing.assert_array_equal(encoded["categories"][:, 0], np.argmax(expected.logits[0], -1))
    np.testing.assert_allclose(encoded["z_mean"], expected.mean, atol=1e-5)
    np.testing.assert_allclose(encoded["probabilities"], tf.nn.softmax(expected.logits[0]), atol=1e-5)


def test_traverse_sweeps_the_prior_quantiles(exported):
    *_, loaded, model = exported
    out = loaded.signatures["traverse"](dim=tf.constant([2], tf.int32), category=tf.constant([[1]], tf.int32))
    assert out["images"].shape == (1, 10, 32, 32, 1) and out["png_bytes"].shape == (1, 10)
    assert out["row_error"].numpy().tolist() == [b""]
    z = np.zeros((10, 3))
    z[:, 2] = latents.prior_quantiles(10)
    expected = model.decode(latents.compose(LatentSpec(3, (4,)), z, np.ones((10, 1), int)))
    np.testing.assert_allclose(out["images"][0], expected, atol=1e-5)


def test_wrong_shapes_and_dtypes_are_rejected_and_bad_rows_refused_alone(exported):
    *_, loaded, _ = exported
    rejected = (TypeError, ValueError, tf.errors.InvalidArgumentError)  # by the TensorSpec
    with pytest.raises(rejected):
        loaded.signatures["serving_default"](z=tf.zeros([2, 4]), c=tf.zeros([2, 4]))
    with pytest.raises(rejected):
        loaded.signatures["sample"](seed=tf.constant([1], tf.int32), category=tf.constant([[0]], tf.int32))
    # A batch that TF-Serving merged from several requests must not fail for one bad row.
    drawn = sample(loaded, [1, 2, 3], [[4], [1], [-2]])
    assert [m.decode()[:25] for m in drawn["row_error"].numpy()] == ["category: expected column", "",
                                                                     "category: expected column"]
    np.testing.assert_array_equal(drawn["images"].numpy()[[0, 2]], 0)
    # The same latent decoded in a batch of another size: equal to float precision (the math library's summation
    # order may depend on the batch), not bit for bit.
    np.testing.assert_allclose(drawn["images"][1], sample(loaded, [2], [[1]])["images"][0], atol=1e-6)
    swept = loaded.signatures["traverse"](dim=tf.constant([3, 0, 1], tf.int32),
                                          category=tf.constant([[0], [0], [-1]], tf.int32))
    assert [m.decode() for m in swept["row_error"].numpy()] == [
        "dim: expected 0 .. 2", "", "category: expected column i in 0 .. K_i - 1 for the counts K = [4]"]
    assert np.max(swept["images"][1]) > 0 and np.max(swept["images"].numpy()[[0, 2]]) == 0


def test_no_function_of_the_export_is_xla_compiled(exported):
    """TF-Serving disables XLA unless --xla_cpu_compilation_enabled (model_servers/main.cc) and then fails
    every request to a function marked for XLA, so no node or function may carry _XlaMustCompile."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(exported[1], "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graph = saved_model.meta_graphs[0].graph_def
    functions = list(graph.library.function)
    nodes = list(graph.node) + [node for function in functions for node in function.node_def]
    assert len(functions) > 10 and any(node.op == "StatefulPartitionedCall" for node in nodes)
    marked = [node.name for node in nodes if node.attr["_XlaMustCompile"].b]
    marked += [function.signature.name for function in functions if function.attr["_XlaMustCompile"].b]
    assert marked == []


def test_versions_count_up_never_overwrite_and_skip_temporary_folders(exported, tmp_path):
    run_dir = exported[0]
    out = str(tmp_path)
    os.makedirs(tmp_path / "jointvae" / ".tmp-5-half")  # an interrupted export
    assert export.export_run(run_dir, out=out, version=4).endswith(os.path.join("jointvae", "4"))
    assert export.export_run(run_dir, out=out).endswith(os.path.join("jointvae", "5"))
    assert export.list_versions(str(tmp_path / "jointvae")) == [4, 5]
    with pytest.raises(JointVAEError, match="^version: 4: .* already exists"):
        export.export_run(run_dir, out=out, version=4)
    assert sorted(os.listdir(tmp_path / "jointvae")) == [".tmp-5-half", "4", "5"]
    assert export.resolve_export_dir(str(tmp_path / "jointvae")).endswith("5")


@pytest.mark.parametrize("latent", [LatentSpec(0, (3,)), LatentSpec(2, ())], ids=["no-cont", "no-disc"])
def test_empty_latent_parts_stay_inputs_of_width_zero(tmp_path, latent):
    export_dir = export.export_run(make_run(str(tmp_path / "run"), latent), out=str(tmp_path / "out"))
    loaded = tf.saved_model.load(export_dir)
    assert ("traverse" in loaded.signatures) == bool(latent.cont)
    images = loaded.signatures["serving_default"](z=tf.zeros([2, latent.cont]), c=tf.zeros([2, latent.disc_size]))
    assert images["images"].shape == (2, 32, 32, 1)
    drawn = sample(loaded, [1, 2], np.zeros((2, len(latent.disc)), np.int32) - 1)
    assert drawn["z"].shape == (2, latent.cont) and drawn["categories"].shape == (2, len(latent.disc))
    encoded = loaded.signatures["encode"](images=images["images"])
    assert encoded["probabilities"].shape == (2, latent.disc_size)


def test_cli_export_then_sample_from_the_export(exported, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", exported[0], "--out", str(tmp_path / "sm"), "--name", "m"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "grid.png"
    result = runner.invoke(main, ["sample", "--export", str(tmp_path / "sm" / "m"), "--n", "5", "--category", "1",
                                  "--out", str(out), "--out-dir", str(tmp_path / "each")])
    assert result.exit_code == 0, result.output
    from PIL import Image

    assert Image.open(out).size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)  # 5 images in a 2 x 3 grid, 2-pixel gutters
    assert len(os.listdir(tmp_path / "each")) == 5
    larger = str(tmp_path / "grid-3.png")
    result = runner.invoke(main, ["sample", "--export", str(tmp_path / "sm" / "m"), "--n", "5", "--category", "1",
                                  "--upscale", "3", "--out", larger, "--out-dir", str(tmp_path / "each-3")])
    assert result.exit_code == 0, result.output
    small, large = np.asarray(Image.open(out)), np.asarray(Image.open(larger))
    np.testing.assert_array_equal(large, small.repeat(3, axis=0).repeat(3, axis=1))
    for name in os.listdir(tmp_path / "each"):  # the images themselves stay at the model's size
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "each-3" / name)),
                                      np.asarray(Image.open(tmp_path / "each" / name)))
    result = runner.invoke(main, ["sample", "--export", str(tmp_path / "sm" / "m"), "--upscale", "0"])
    assert result.exit_code == 2 and "--upscale" in result.output


def test_local_run_and_export_sample_the_same_images(exported):
    from jointvae_tf.serving.predictor import sample
    from jointvae_tf.serving.sources import open_predictor

    run_dir, export_dir, *_ = exported
    in_memory = open_run(run_dir).model.sample(4, category=[2], seed=3)
    from_run = sample(open_predictor(run_dir), 4, seed=3, category=[2])
    from_export = sample(open_predictor(export_dir), 4, seed=3, category=[2])
    np.testing.assert_allclose(from_run["images"], from_export["images"], atol=1e-5)
    np.testing.assert_allclose(in_memory, from_export["images"], atol=1e-5)
    with pytest.raises(JointVAEError, match=r"^category: expected up to 1 values .* count \[4\], got \[9\]"):
        sample(open_predictor(export_dir), 1, category=[9])


@pytest.mark.parametrize("arguments, message", [
    (["--version", "0"], "--version: expected an integer 1 .. 9223372036854775807 (TF-Serving's int64), got 0"),
    (["--version", "99999999999999999999"], "--version: expected an integer 1 .. 9223372036854775807"),
    (["--version", "1"], "--version: 1: "),
    (["--jit"], "--jit"),  # exports are never XLA-compiled; click 8.2.0 and later word the error differently
])
def test_cli_export_bad_arguments_are_one_line_and_exit_2(exported, tmp_path, arguments, message):
    out = str(tmp_path / "sm")
    export.export_run(exported[0], out=out)
    result = CliRunner().invoke(main, ["export", exported[0], "--out", out, *arguments])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.strip().count("\n") == 0
    assert os.listdir(os.path.join(out, "jointvae")) == ["1"]


def test_a_run_whose_data_is_not_here_exports_without_downloading_it(tmp_path):
    """An export of a TFDS mnist run where mnist was never downloaded is written at once, its categories
    unnamed, with one warning saying why; it never downloads (conftest fails any test that does)."""
    run = RunConfig(data=DataConfig(name="mnist"), model=ModelConfig(image_size=32, channels=1,
                                                                      latent=LatentSpec(3, (4,))))
    run_dir = str(tmp_path / "run")
    prepare_run(run, run_dir, resume=False)
    RunFolder(run_dir).checkpointer(build_model(run)).save(0)
    result = CliRunner().invoke(main, ["export", run_dir, "--out", str(tmp_path / "sm")])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: the export names no category, as the run's labelled validation "
                                    "images cannot be read (data.data_dir: mnist is not on this machine yet")
    assert result.stderr.count("\n") == 1
    config = export.ExportConfig.load(os.path.join(tmp_path, "sm", "jointvae", "1"))
    assert config.dataset == "mnist" and config.class_names == tuple("0123456789")
    assert config.category_classes == () and config.category_purity == ()


def test_cli_bad_run_dir_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no config.json" in result.output


def _archive_writing_with(write_out):
    """A ``build_archive`` whose archives write with ``write_out(path)`` instead."""
    build = export.build_archive

    def build_archive(*args, **kwargs):
        archive = build(*args, **kwargs)
        archive.write_out = lambda path, **_: write_out(path)
        return archive

    return build_archive


def test_an_export_that_raises_leaves_no_folder(exported, tmp_path, monkeypatch):
    def fail(path):
        os.makedirs(os.path.join(path, "variables"))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "build_archive", _archive_writing_with(fail))
    with pytest.raises(RunFailure, match=rf"^{tmp_path / 'jointvae' / '1'}: could not write the export "
                                         r"\(No space left on device\)$"):
        export.export_run(exported[0], out=str(tmp_path))
    assert os.listdir(tmp_path / "jointvae") == []


@pytest.mark.slow
def test_an_export_killed_mid_write_is_never_served_and_is_cleaned_up_by_the_next(exported, tmp_path):
    """A real process, killed while it writes; its .tmp-* folder stays until an export finds its writer gone."""
    model_dir = tmp_path / "jointvae"
    code = ("import os, sys, time; import test_export; from jointvae_tf.serving import export\n"
            "def slow(path):\n"
            "    os.makedirs(os.path.join(path, 'variables')); print('writing', flush=True); time.sleep(600)\n"
            "export.build_archive = test_export._archive_writing_with(slow)\n"
            "export.export_run(sys.argv[1], out=sys.argv[2])\n")
    process = subprocess.Popen([sys.executable, "-c", code, exported[0], str(tmp_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": os.path.dirname(__file__)})
    for line in process.stdout:  # the export's progress lines (reading its labelled images) come first
        if line.strip() == "writing":
            break
    else:  # the output ended: the process did too, so its stderr can be read whole
        pytest.fail(f"the export ended before writing: {process.stderr.read()[-2000:]}")
    (left,) = os.listdir(model_dir)
    assert left.startswith(f".tmp-1-{process.pid}@") and export.list_versions(str(model_dir)) == []
    os.makedirs(model_dir / ".tmp-7-1@elsewhere.abcd1234")  # another host's writer: not ours to judge
    assert export.remove_abandoned_exports(str(model_dir)) == []  # the writer is alive
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert export.export_run(exported[0], out=str(tmp_path)).endswith(os.path.join("jointvae", "1"))
    assert sorted(os.listdir(model_dir)) == [".tmp-7-1@elsewhere.abcd1234", "1"]


def _tool(name):
    """A console script of the installed TensorFlow: beside this Python, else on PATH (a venv that uses
    the system's site-packages)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else shutil.which(name)


@pytest.mark.slow
def test_a_fresh_process_and_saved_model_cli_load_show_and_run_the_export(exported, tmp_path):
    run_dir, _, _, model = exported
    result = CliRunner().invoke(main, ["export", run_dir, "--out", str(tmp_path / "sm")])
    assert result.exit_code == 0, result.output
    export_dir = str(tmp_path / "sm" / "jointvae" / "1")
    code = ("import tensorflow as tf, sys; m = tf.saved_model.load(sys.argv[1]); "
            "out = m.signatures['sample'](seed=tf.constant([1, 2], tf.int64), category=tf.constant([[3], [-1]])); "
            "print(out['images'].shape, out['categories'].numpy()[0, 0], len(out['png_bytes'].numpy()[0]) > 0)")
    commands = {
        "python": [sys.executable, "-c", code, export_dir],
        "show": [_tool("saved_model_cli"), "show", "--all", "--dir", export_dir],
        "run": [_tool("saved_model_cli"), "run", "--dir", export_dir, "--tag_set", "serve", "--signature_def",
                "serving_default", "--input_exprs", "z=[[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]];c=[[1.0, 0, 0, 0], [0, 1.0, 0, 0]]",
                "--outdir", str(tmp_path)],
    }
    # One after another: on a shared 2-core machine three TensorFlow processes at once starve each other.
    done = {name: subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=180)
            for name, command in commands.items()}
    for name, process in done.items():
        assert process.returncode == 0, f"{name}: {process.stderr}"
    assert done["python"].stdout.strip().splitlines()[-1] == "(2, 32, 32, 1) 3 True"
    shown = done["show"].stdout
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in shown
    assert "inputs['seed'] tensor_info:\n        dtype: DT_INT64\n        shape: (-1)" in shown
    z_c = np.array([[0, 0, 0, 1, 0, 0, 0], [0.5, 0, 0, 0, 1, 0, 0]], np.float32)
    np.testing.assert_allclose(np.load(tmp_path / "images.npy"), model.decode(z_c), atol=1e-5)
