"""Training runs end to end: the run folder, resume after SIGKILL, divergence, and the CLI's errors."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main

from jointvae_tf.core.config import (
    DataConfig,
    LatentSpec,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from jointvae_tf.run_folders.folder import RunFolder, open_run
from jointvae_tf.training.callbacks import TrainingDiverged
from jointvae_tf.training.trainer import train

TINY = RunConfig(model=ModelConfig(latent=LatentSpec(2, (4,))),
                 data=DataConfig(name="four_shapes", max_examples=128),
                 train=TrainConfig(epochs=2, batch_size=32, checkpoint_every=3, eval_examples=64))


def _cli(*args):
    """Run ``jvae-tf ARGS`` in-process; returns (exit code, stderr lines)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("args", [
    ["train", "--disc", "1"],
    ["train", "--disc", "ten"],
    ["train", "--cont-capacity", "0,5"],
    ["train", "--cont", "-1"],
    ["train", "--dataset", "no_such_data"],
    ["train", "--loss", "huber"],
    ["train", "--no-such-flag"],
    ["train", "--resume"],
])
def test_bad_flags_give_one_line_and_exit_code_2(args):
    code, lines = _cli(*args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("Error: ")


@pytest.mark.parametrize("dataset,missing", [("az_letters", "A_Z Handwritten Data.csv"),
                                             ("arabic_chars", "csvTrainImages"), ("npz", "mnist.npz"),
                                             ("mnist_idx", "train-images-idx3-ubyte"), ("image_folder", "not found")])
def test_train_with_a_missing_data_file_names_it_and_can_be_retried(dataset, missing, tmp_path):
    run_dir = tmp_path / "run"
    for attempt in range(2):  # the failed attempt leaves nothing that blocks the next one
        code, lines = _cli("train", "--dataset", dataset, "--data-dir", str(tmp_path / "empty"), "--out", str(run_dir))
        assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and missing in lines[0]
        assert not run_dir.exists()  # no config.json of a run that never started


def test_resume_needs_a_run_folder(tmp_path):
    code, lines = _cli("train", "--out", str(tmp_path / "nothing"), "--resume")
    assert code == 2 and "config.json" in lines[0]


@pytest.mark.slow
def test_train_writes_the_run_folder_and_refuses_to_overwrite_it(tmp_path):
    run_dir = str(tmp_path / "run")
    result = train(TINY, run_dir, verbose=0)
    assert result.step == 2 * (128 // 32)
    assert RunConfig.load(RunFolder(run_dir).config) == TINY
    assert [s for s, _ in RunFolder(run_dir).checkpointer(None).checkpoints()][-1] == result.step
    assert os.listdir(os.path.join(run_dir, "logs", "train"))
    assert 0.0 <= result.logs["val_cluster_accuracy"] <= 1.0
    saved, restored = keras.models.load_model(RunFolder(run_dir).model_file), open_run(run_dir).model
    images = np.random.default_rng(0).random((4, 32, 32, 1), np.float32)
    np.testing.assert_array_equal(saved.encode(images).mean, restored.encode(images).mean)
    code, lines = _cli("train", "--out", run_dir, "--max-examples", "128")
    assert code == 2 and "--resume" in lines[0]


class _PoisonWeights(keras.callbacks.Callback):
    """Sets the encoder's head bias to NaN after ``at`` batches, as a diverging optimizer would."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.at:
            bias = self.model.encoder.get_layer("encoding").bias
            bias.assign(np.full(bias.shape, np.nan, np.float32))


@pytest.mark.slow
def test_divergence_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    run = RunConfig(model=TINY.model, data=TINY.data,
                    train=TrainConfig(epochs=2, batch_size=32, checkpoint_every=1, steps_per_execution=1))
    with pytest.raises(TrainingDiverged, match="step"):
        train(run, run_dir, verbose=0, extra_callbacks=[_PoisonWeights(at=2)])
    steps = [s for s, _ in RunFolder(run_dir).checkpointer(None).checkpoints()]
    assert steps[-1] == 2
    with np.load(RunFolder(run_dir).checkpointer(None).checkpoints()[-1][1]) as stored:
        assert all(np.isfinite(stored[k]).all() for k in stored.files if stored[k].dtype.kind == "f")


@pytest.mark.slow
def test_resume_after_sigkill_continues_the_step_count(tmp_path):
    run_dir = str(tmp_path / "run")
    command = [sys.executable, "-c", "from jointvae_tf.cli.main import main; main()", "train",
               "--dataset", "four_shapes", "--max-examples", "256", "--batch-size", "32", "--cont", "2",
               "--disc", "4", "--checkpoint-every", "5", "--out", run_dir]
    # cwd: outside the source tree, so that the installed package (with its top-level cli) is imported.
    process = subprocess.Popen(command + ["--epochs", "200"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    checkpointer = RunFolder(run_dir).checkpointer(None)
    deadline = time.monotonic() + 240
    while (time.monotonic() < deadline and process.poll() is None
           and not [s for s, _ in checkpointer.checkpoints() if s >= 10]):
        time.sleep(0.2)
    assert process.poll() is None, f"training stopped by itself: {process.stderr.read()[-2000:]}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    steps = [s for s, _ in checkpointer.checkpoints()]
    assert steps and steps[-1] >= 10, "no checkpoint was written before the deadline"
    killed_at = steps[-1]

    epochs = killed_at // 8 + 2
    resumed = subprocess.run(command + ["--epochs", str(epochs), "--resume"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Trained {epochs * 8} steps" in resumed.stdout
    steps = [s for s, _ in checkpointer.checkpoints()]
    assert steps[-1] == epochs * 8 and all(s >= killed_at for s in steps)
    assert json.load(open(os.path.join(run_dir, "config.json")))["train"]["epochs"] == 200
