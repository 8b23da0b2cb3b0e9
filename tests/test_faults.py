"""Faults a user meets, injected: two trainings in one folder, damaged checkpoints, a full disk, a failed write
of model.keras, folders that cannot be written, deep and huge images, a hand-edited config.json. Each states
what must hold afterwards: the data intact, one line naming what went wrong, the exit code (1 a failed job,
2 the user's mistake), and no debris."""

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image

from jointvae_tf.core.config import DataConfig, LatentSpec, ModelConfig, RunConfig, TrainConfig
from jointvae_tf.data import load_examples
from jointvae_tf.errors import JointVAEWarning, RunFailure
from jointvae_tf.run_folders import RunFolder, lock_run_folder, open_run, prepare_run
from jointvae_tf.run_folders import lock as lock_module
from jointvae_tf.run_folders.checkpoints import Checkpointer, read_checkpoint
from jointvae_tf.training.trainer import build_model
from test_data_image_files import png_header_only

RUN = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=LatentSpec(2, (4,)), hidden_units=16),
                data=DataConfig(name="four_shapes", max_examples=96),
                train=TrainConfig(epochs=1, batch_size=16, checkpoint_every=2, eval_examples=16,
                                  steps_per_execution=1))
STEPS = (2, 4, 6)  # the run's checkpoints; 6 steps make its one epoch
DAMAGES = {"truncated": lambda data: data[:len(data) // 2], "overwritten": lambda data: b"\0" * len(data),
           "empty": lambda data: b""}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A run folder with checkpoints at STEPS of an untrained model (as `train` leaves them, minus training)."""
    folder = str(tmp_path_factory.mktemp("template") / "run")
    prepare_run(RUN, folder, resume=False)
    checkpointer = RunFolder(folder).checkpointer(build_model(RUN))
    for step in STEPS:
        checkpointer.model.optimizer.iterations.assign(step)
        checkpointer.model.training_step.assign(step)
        checkpointer.save(step)
    return folder


@pytest.fixture
def run_dir(template, tmp_path):
    """A fresh copy of the template run folder."""
    return shutil.copytree(template, str(tmp_path / "run"))


def cli(*args):
    """``jvae-tf ARGS`` in-process: (exit code, stdout, non-empty stderr lines)."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, [line for line in result.stderr.splitlines() if line.strip()]


def checkpoint_path(run_dir, step):
    return os.path.join(run_dir, "checkpoints", f"ckpt-{step:09d}.npz")


def contents(folder):
    """Every file under ``folder`` by relative path, with its bytes."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def damage(path, kind):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(DAMAGES[kind](data))


# --- one writer per run folder ------------------------------------------------------------------------------

# The holder loads runs/lock.py alone: the package's runs/__init__ would start TensorFlow, seconds for nothing.
HOLDER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("lock", sys.argv[2])
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)
with lock.lock_run_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_train_into_a_held_run_folder_is_refused_naming_the_holder(run_dir):
    before = contents(run_dir)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, run_dir, lock_module.__file__], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for resume in ((), ("--resume",)):
            code, _, lines = cli("train", "--max-examples", 96, "--out", run_dir, *resume)
            assert code == 2 and len(lines) == 1, lines
            assert lines[0].startswith(f"Error: run folder {run_dir}: in use by process {holder.pid} on "
                                       f"{socket.gethostname()} since ")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    after = contents(run_dir)
    assert after.pop(".lock").startswith(b'{"pid": %d' % holder.pid)  # what a killed holder leaves: no lock
    assert after == before  # the holder's run untouched
    with lock_run_folder(run_dir):  # SIGKILL left no stale lock
        pass


def test_one_process_cannot_hold_a_run_folder_twice(tmp_path):
    with lock_run_folder(str(tmp_path)):
        with pytest.raises(Exception, match=f"in use by process {os.getpid()} "):
            with lock_run_folder(str(tmp_path)):
                pass


# --- damaged checkpoints -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_a_damaged_newest_checkpoint_is_named_and_the_newest_intact_one_opened(kind, run_dir):
    newest = checkpoint_path(run_dir, 6)
    damage(newest, kind)
    with pytest.warns(JointVAEWarning) as recorded:
        loaded = open_run(run_dir)
    assert loaded.step == 4
    caught = [w for w in recorded if w.category is JointVAEWarning]
    assert len(caught) == 1
    assert str(caught[0].message).startswith(f"{newest}: a damaged checkpoint (")
    assert str(caught[0].message).endswith(f"; restored step 4 from {checkpoint_path(run_dir, 4)}")
    assert os.path.exists(newest)  # a reader leaves the file as it found it


def test_export_falls_back_to_the_newest_intact_checkpoint_and_says_so(run_dir, tmp_path):
    damage(checkpoint_path(run_dir, 6), "truncated")
    code, out, lines = cli("export", run_dir, "--out", tmp_path / "models")
    assert code == 0, lines
    assert len(lines) == 1 and lines[0].startswith(f"Warning: {checkpoint_path(run_dir, 6)}: a damaged checkpoint")
    with open(tmp_path / "models" / "jointvae" / "1" / "assets.extra" / "jointvae_export.json") as f:
        assert json.load(f)["step"] == 4


def test_every_checkpoint_damaged_is_a_failed_job_that_writes_nothing(run_dir, tmp_path):
    for step in STEPS:
        damage(checkpoint_path(run_dir, step), "truncated")
    code, _, lines = cli("export", run_dir, "--out", tmp_path / "models")
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {checkpoint_path(run_dir, 6)}: a damaged checkpoint")
    assert "every older checkpoint" in lines[0]
    assert not os.path.exists(tmp_path / "models")


def test_resume_with_every_checkpoint_damaged_fails_and_leaves_them_for_a_look(run_dir):
    for step in STEPS:
        damage(checkpoint_path(run_dir, step), "empty")
    before = contents(run_dir)
    code, _, lines = cli("train", "--resume", "--out", run_dir)
    assert code == 1 and lines[-1].startswith(f"Error: {checkpoint_path(run_dir, 6)}: a damaged checkpoint")
    after = contents(run_dir)
    after.pop(".lock")
    assert after == before  # nothing renamed, so the next attempt does not start the run afresh


def test_resume_sets_a_damaged_checkpoint_aside_removes_leftovers_and_trains_on(run_dir):
    newest = checkpoint_path(run_dir, 6)
    damage(newest, "truncated")
    leftovers = [checkpoint_path(run_dir, 8) + ".tmp", os.path.join(run_dir, ".partial-model.keras"),
                 os.path.join(run_dir, "config.json.tmp")]
    for path in leftovers:
        with open(path, "wb") as f:
            f.write(b"half")
    code, out, lines = cli("train", "--resume", "--out", run_dir)
    assert code == 0, lines
    assert [line for line in lines if line.startswith("Warning: ")] == [
        f"Warning: {newest}: a damaged checkpoint (File is not a zip file) skipped, renamed *.damaged; "
        f"restored step 4 from {checkpoint_path(run_dir, 4)}"]
    assert "Trained 6 steps" in out
    assert os.path.exists(newest + ".damaged")
    assert int(read_checkpoint(newest)["optimizer/iteration"]) == 6  # written again, whole
    assert not [path for path in leftovers if os.path.exists(path)]


# --- failed writes -------------------------------------------------------------------------------------------

FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from jointvae_tf.cli.main import main
main(sys.argv[2:])
"""


@contextlib.contextmanager
def file_size_limit(limit):
    """Files of this process cannot grow beyond ``limit`` bytes for the block (a disk that fills up): a write
    past it fails with EFBIG, SIGXFSZ being ignored meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_checkpoint_that_does_not_fit_on_the_disk_fails_and_leaves_the_others(run_dir):
    model = build_model(RUN)
    checkpointer = Checkpointer(os.path.join(run_dir, "checkpoints"), model)
    before = contents(checkpointer.directory)
    with file_size_limit(len(before["ckpt-000000006.npz"]) // 2):
        with pytest.raises(RunFailure) as failed:
            checkpointer.save(8)
    assert str(failed.value) == f"{checkpoint_path(run_dir, 8)}: could not write the checkpoint (File too large)"
    assert contents(checkpointer.directory) == before  # no ckpt-8 and no .tmp; none pruned


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_fails_the_job_and_keeps_the_earlier_ones(run_dir, tmp_path):
    os.remove(checkpoint_path(run_dir, 6))
    kept = {step: open(checkpoint_path(run_dir, step), "rb").read() for step in (2, 4)}
    limit = len(kept[4]) // 2  # no file may grow beyond half a checkpoint
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), "train", "--resume", "--out", run_dir],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.startswith(("Error", "Warning", "Traceback"))]
    assert done.returncode == 1, done.stderr[-2000:]
    assert lines == [f"Error: {checkpoint_path(run_dir, 6)}: could not write the checkpoint (File too large)"]
    assert {step: open(checkpoint_path(run_dir, step), "rb").read() for step in (2, 4)} == kept
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["ckpt-000000002.npz", "ckpt-000000004.npz"]


def test_a_failure_while_writing_model_keras_fails_the_job_without_debris(run_dir, monkeypatch):
    """The run is complete (its last checkpoint is its last step), so `--resume` only writes model.keras."""
    def save_half_then_fail(model, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", save_half_then_fail)
    before = contents(os.path.join(run_dir, "checkpoints"))
    code, _, lines = cli("train", "--resume", "--out", run_dir)
    assert code == 1, lines
    assert lines[-1] == (f"Error: {os.path.join(run_dir, 'model.keras')}: could not write the model file "
                         "(No space left on device)")
    assert not {"model.keras", ".partial-model.keras"} & set(os.listdir(run_dir))
    assert contents(os.path.join(run_dir, "checkpoints")) == before


def test_export_below_a_file_is_the_users_mistake(run_dir, tmp_path):
    (tmp_path / "models").write_text("a file, not a folder")
    code, _, lines = cli("export", run_dir, "--out", tmp_path / "models" / "inner")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0] == f"Error: {tmp_path / 'models' / 'inner' / 'jointvae'}: could not write an export (Not a directory)"
    assert (tmp_path / "models").read_text() == "a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder (permissions do not bind root)")
def test_export_into_a_read_only_folder_is_the_users_mistake(run_dir, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    models.chmod(0o555)
    try:
        code, _, lines = cli("export", run_dir, "--out", models)
    finally:
        models.chmod(0o755)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0] == f"Error: {models / 'jointvae'}: could not write an export (Permission denied)"
    assert os.listdir(models) == []


# --- images ------------------------------------------------------------------------------------------------

def write_folder(root, image_of):
    """Class folders ``a`` and ``b`` of 4 PNGs each, image ``i`` of class ``c`` written by ``image_of(c, i)``."""
    for c, name in enumerate("ab"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            image_of(c, i).save(root / name / f"{i}.png")


def picture(c, i):
    """uint8 [32, 32]: a class-dependent grey ramp, shifted per image, using the whole range."""
    return ((np.add.outer(np.arange(32), np.arange(32)) * 4 + 40 * c + 7 * i) % 256).astype(np.uint8)


def test_sixteen_bit_images_train_as_the_pictures_they_show(tmp_path):
    write_folder(tmp_path / "eight", lambda c, i: Image.fromarray(picture(c, i)))
    write_folder(tmp_path / "sixteen", lambda c, i: Image.fromarray(picture(c, i).astype(np.uint16) * 257))
    data = [DataConfig(name="image_folder", data_dir=str(tmp_path / kind), validation_fraction=0.25)
            for kind in ("eight", "sixteen")]
    eight, sixteen = (load_examples(d, "train", 32, 1) for d in data)
    assert len(np.unique(sixteen.images)) > 100  # not the 0 and 255 of 16-bit values clipped to 8
    np.testing.assert_array_equal(sixteen.images, eight.images)
    np.testing.assert_array_equal(sixteen.labels, eight.labels)


def test_a_sixteen_bit_upload_to_the_explorer_is_the_picture_it_shows():
    from jointvae_tf.serving.explorer.app import model_input

    def png(values):
        buffer = io.BytesIO()
        Image.fromarray(values).save(buffer, "PNG")
        return buffer.getvalue()

    eight = model_input(png(picture(1, 2)), (32, 32, 1))
    np.testing.assert_array_equal(model_input(png(picture(1, 2).astype(np.uint16) * 257), (32, 32, 1)), eight)
    assert len(np.unique(eight)) > 50  # a ramp, not the 0 and 255 of 16-bit values clipped to 8


@pytest.mark.parametrize("width,height", [(20000, 20000), (12000, 12000)])
def test_a_huge_image_in_a_folder_is_refused_by_name_and_leaves_no_run_folder(width, height, tmp_path):
    """20000 x 20000 is a PIL DecompressionBombError, 144 megapixels only its warning: both are refused."""
    write_folder(tmp_path / "photos", lambda c, i: Image.fromarray(picture(c, i)))
    huge = tmp_path / "photos" / "b" / "huge.png"
    huge.write_bytes(png_header_only(width, height))
    code, _, lines = cli("train", "--dataset", "image_folder", "--data-dir", tmp_path / "photos", "--batch-size", 4,
                         "--out", tmp_path / "run")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {huge}: ") and "is over the limit of 16.8 megapixels" in lines[0]
    assert not os.path.exists(tmp_path / "run")


# --- a hand-edited config.json ---------------------------------------------------------------------------------

@pytest.mark.parametrize("edit,setting,message", [
    (lambda config: None, "", "expected a JSON object of settings, got null"),
    (lambda config: config["model"]["latent"].update(cont="five") or config, ("model.latent.cont", "--cont"),
     'expected an integer, got "five"'),
    (lambda config: config["train"].update(steps="many") or config, ("train.steps", "--steps"),
     'expected an integer or null, got "many"'),
])
@pytest.mark.parametrize("command", ["train", "export"])
def test_a_config_json_of_wrong_types_is_one_line_naming_the_setting(edit, setting, message, command, run_dir,
                                                                     tmp_path):
    """The setting by its path in the file; `train` says it in its flags, as all its errors."""
    config = os.path.join(run_dir, "config.json")
    with open(config) as f:
        edited = edit(json.load(f))
    with open(config, "w") as f:
        json.dump(edited, f)
    before = contents(run_dir)
    args = ("train", "--resume", "--out", run_dir) if command == "train" else ("export", run_dir, "--out",
                                                                                 tmp_path / "models")
    code, _, lines = cli(*args)
    named = f"{setting[command == 'train']}: " if setting else ""
    assert code == 2 and lines == [f"Error: {config}: {named}{message}"]
    assert contents(run_dir) == before and not os.path.exists(tmp_path / "models")


def test_leftovers_are_not_taken_for_checkpoints(run_dir):
    """A killed writer's ``ckpt-*.npz.tmp`` is not listed, whatever it holds."""
    with open(checkpoint_path(run_dir, 8) + ".tmp", "wb") as f:
        f.write(open(checkpoint_path(run_dir, 6), "rb").read())
    with warnings.catch_warnings():
        warnings.simplefilter("error", JointVAEWarning)
        assert open_run(run_dir).step == 6
    assert [s for s, _ in RunFolder(run_dir).checkpointer(None).checkpoints()] == list(STEPS)
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY  # no limit leaked to pytest
