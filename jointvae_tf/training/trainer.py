"""A training run: data, model, optimizer, callbacks and checkpoints, written to a run folder
(layout: :mod:`jointvae_tf.run_folders.folder`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from jointvae_tf import data, run_folders
from jointvae_tf.core import distribute
from jointvae_tf.core.config import RunConfig
from jointvae_tf.core.model import JointVAE
from jointvae_tf.core.precision import set_precision
from jointvae_tf.data import pixels
from jointvae_tf.errors import ConfigError, JointVAEError, RunFailure, write_failure
from jointvae_tf.progress import plain_unless_terminal
from jointvae_tf.evaluation import selection
from jointvae_tf.training import restarts
from jointvae_tf.training.callbacks import (
    CheckpointEvery,
    DivergenceGuard,
    HeldOutEvaluation,
    TrainingTensorBoard,
)
from jointvae_tf.training.early_stopping import StopWhenSettled
from jointvae_tf.viz.visualize import ProgressPictures, write_pictures


@dataclasses.dataclass
class TrainingResult:
    """What a run produced: its folder, final step, the last epoch's logged values and, when it ended
    before its step budget, why (empty otherwise)."""

    run_dir: str
    step: int
    logs: dict[str, float]
    stopped: str = ""


class CodeCollapsed(RunFailure):
    """The discrete code collapsed during training (few categories in use); the run is not continued."""


def build_model(run: RunConfig, strategy: tf.distribute.Strategy | None = None) -> JointVAE:
    """A compiled model with built variables and optimizer state, ready to restore or train.

    Sets the run's precision policy first, then creates every variable under ``strategy``'s scope
    (the current strategy when None). A ``mixed_float16`` model gets a loss-scaling optimizer from compile.
    """
    set_precision(run.train.precision)
    strategy = strategy or tf.distribute.get_strategy()
    # Keras 3.15 fails on distributed iterators with steps_per_execution > 1 ("You must feed a value for
    # placeholder tensor"): one step per call with several replicas (docs/reference/performance.md).
    steps_per_execution = run.train.steps_per_execution if strategy.num_replicas_in_sync == 1 else 1
    with strategy.scope():
        model = JointVAE(run.model, seed=run.train.seed)
        model.compile(optimizer=keras.optimizers.Adam(run.train.learning_rate),
                      jit_compile=distribute.resolve_jit(run.train.jit_compile), steps_per_execution=steps_per_execution)
        model.build_all()
        model.optimizer.build(model.trainable_variables)
    return model


def train(run: RunConfig, run_dir: str, resume: bool = False, verbose: int | str = "auto",
          extra_callbacks: list[keras.callbacks.Callback] = ()) -> TrainingResult:
    """Train ``run`` in ``run_dir`` (or continue it with ``resume``); returns where things went.

    Training is counted in steps (``model.training_step``): whole epochs, ``TrainConfig.epochs_for`` of them, or fewer with
    ``TrainConfig.stop_when_settled`` once the discrete code has settled (:class:`StopWhenSettled`, not before
    the discrete capacity's ramp has ended; the step and reason go to ``stopped.json``). A code that collapses
    ends the run with :class:`CodeCollapsed`. A resumed run restores weights, optimizer and step (hence the
    capacity schedules) and finishes the interrupted epoch first; one that had stopped settled stays stopped
    unless a length is given. A fresh run with ``TrainConfig.restarts`` > 1 first picks its start among that
    many candidates (:mod:`restarts`). The last checkpoint is always the final step.

    The process holds the run folder meanwhile (:func:`~jointvae_tf.run_folders.lock_run_folder`; a JointVAEError
    naming the holder when another process trains in it) and first removes what killed writers left there.
    A folder made by this call is removed again when the run is refused over its inputs (a JointVAEError
    that is not a RunFailure), so no debris of a mistake stays.

    ``verbose`` is Keras' ``fit`` verbosity; a live bar becomes one plain line per epoch when stdout is not a
    terminal.
    """
    verbose = plain_unless_terminal(verbose)
    holds_folder = distribute.writes_run_folder(run.train.distribute)
    fresh = not os.path.exists(run_dir)
    with run_folders.lock_run_folder(run_dir) if holds_folder else contextlib.nullcontext():
        if holds_folder:
            run_folders.RunFolder(run_dir).remove_partial()
        try:
            return _train(run, run_dir, resume, verbose, extra_callbacks)
        except JointVAEError as error:
            # A folder this call made for a run refused over its inputs (unreadable images, a batch larger
            # than the data) holds nothing worth keeping: it goes, so the corrected command starts clean.
            if holds_folder and fresh and not isinstance(error, RunFailure):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _train(run: RunConfig, run_dir: str, resume: bool, verbose: int | str,
           extra_callbacks: list[keras.callbacks.Callback]) -> TrainingResult:
    run = run_folders.prepare_run(run, run_dir, resume)
    strategy = distribute.make_strategy(run.train.distribute)  # first: multi-worker needs a fresh runtime
    keras.utils.set_random_seed(run.train.seed)
    model_config = run.model
    train_examples = data.load_examples(run.data, "train", model_config.image_size, model_config.channels,
                                        seed=run.train.seed)
    held_out = data.load_examples(run.data, "validation", model_config.image_size, model_config.channels,
                                  seed=run.train.seed)
    steps_per_epoch = len(train_examples.images) // run.train.batch_size
    if steps_per_epoch == 0:
        raise ConfigError("train.batch_size", f"{run.train.batch_size} is larger than the "
                          f"{len(train_examples.images)} training images of {run.data.name}")
    dataset = data.make_dataset(train_examples, run.train.batch_size, shuffle=True, seed=run.train.seed,
                                repeat=True, drop_remainder=True)
    # Images only: the step needs nothing else, and Keras 3.15 cannot reduce a dict of per-worker values.
    dataset = dataset.map(lambda batch: batch["image"])

    folder = run_folders.RunFolder(run_dir)
    unlabeled = selection.unlabeled_validation(run) if model_config.latent.disc else None
    # Every worker saves and logs (all take part in the step), but only the chief into the run folder.
    chief = distribute.is_chief(strategy)
    files = folder if chief else run_folders.RunFolder(tempfile.mkdtemp(prefix="jvae-worker-"))
    if run.train.restarts > 1 and not (resume and folder.checkpointer(None).checkpoints()):
        def build_candidate(candidate: RunConfig) -> JointVAE:
            model = build_model(candidate, strategy)
            _fit_whole_executions(model, model.steps_per_execution, steps_per_epoch)
            return model

        model, restart_phase = restarts.best_start(run, build_candidate, dataset, steps_per_epoch,
                                                   unlabeled, verbose)
        step = int(model.training_step.numpy())
        if chief:
            restart_phase.write(folder.restarts)
    else:
        model = build_model(run, strategy)
        step = (folder.checkpointer(model).restore_latest(owner=chief) if resume else None) or 0
    checkpointer = files.checkpointer(model)

    n_eval = min(run.train.eval_examples, len(held_out.images))
    eval_images = pixels.to_unit_range(held_out.images[:n_eval])
    callbacks = [
        DivergenceGuard(),
        CheckpointEvery(checkpointer, run.train.checkpoint_every),
        HeldOutEvaluation(eval_images, held_out.labels[:n_eval], files.validation_logs, pictures=(
            ProgressPictures(eval_images, folder.pictures, folder.picture_logs) if chief else None),
            batch_size=run.train.batch_size),
        *extra_callbacks,
        TrainingTensorBoard(files.logs, update_freq=100),
    ]
    stopper = None
    if unlabeled is not None:
        stopper = StopWhenSettled.for_run(run, unlabeled, log_dir=files.validation_logs,
                                          verbose=verbose if verbose in (0, 2) else 1)
        callbacks.insert(1, stopper)  # after the divergence guard, before the checkpoint of the epoch's end
    epochs = run.train.epochs_for(steps_per_epoch)
    if resume and run.train.stop_when_settled and _stopped_at(folder) == step:
        epochs = 0  # it stopped settled at this step: nothing more to train
    elif chief and os.path.isfile(folder.stopped):
        os.remove(folder.stopped)  # trained on past the step it records
    total_steps = epochs * steps_per_epoch
    logs: dict[str, float] = {}
    epoch, done_in_epoch = divmod(step, steps_per_epoch)
    wanted_steps_per_execution = model.steps_per_execution
    if done_in_epoch and step < total_steps:
        _fit_whole_executions(model, wanted_steps_per_execution, steps_per_epoch - done_in_epoch)
        history = model.fit(dataset, epochs=epoch + 1, initial_epoch=epoch,
                            steps_per_epoch=steps_per_epoch - done_in_epoch, callbacks=callbacks, verbose=verbose,
                            shuffle=False)
        logs = _last(history)
        epoch += 1
    if epoch < epochs and not model.stop_training:
        _fit_whole_executions(model, wanted_steps_per_execution, steps_per_epoch)
        history = model.fit(dataset, epochs=epochs, initial_epoch=epoch, steps_per_epoch=steps_per_epoch,
                            callbacks=callbacks, verbose=verbose, shuffle=False)
        logs = _last(history)
    final_step = int(model.training_step.numpy())
    if not checkpointer.checkpoints() or checkpointer.checkpoints()[-1][0] != final_step:
        checkpointer.save(final_step)
    stopped = stopper.reason if stopper is not None and stopper.stopped_at is not None else ""
    if stopped and chief:
        _write_json(folder.stopped, {"step": final_step, "reason": stopped, "collapsed": stopper.collapsed})
    if stopper is not None and stopper.collapsed:
        raise CodeCollapsed(f"{run_dir}: training {stopped}; the run is not continued (its checkpoint is kept): "
                            "try another train.seed, or train.restarts=3")
    if chief:
        save_model_file(model, folder)
        write_pictures(model, folder.pictures, eval_images, labels=held_out.labels[:n_eval],
                       class_names=held_out.class_names, verbose=1 if verbose else 0)
    return TrainingResult(run_dir, final_step, logs, stopped)


def _stopped_at(folder: run_folders.RunFolder) -> int | None:
    """The step at which the run in ``folder`` stopped with a settled code, or None."""
    if not os.path.isfile(folder.stopped):
        return None
    with open(folder.stopped) as f:
        record = json.load(f)
    return None if record.get("collapsed") else int(record["step"])


def _write_json(path: str, value: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


def save_model_file(model: keras.Model, folder: run_folders.RunFolder) -> None:
    """``model.save`` to the run folder's ``model.keras``: into a temporary name beside it, then renamed, so a
    reader never sees half a file; a failed write removes the temporary file and raises
    :func:`~jointvae_tf.errors.write_failure`'s error (RunFailure for a full disk)."""
    path, tmp = folder.model_file, folder.partial_model_file
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except (OSError, tf.errors.OpError) as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise write_failure(path, "the model file", error) from None


def _fit_whole_executions(model: keras.Model, wanted: int, steps_per_epoch: int) -> None:
    """Fuse the largest number of steps <= ``wanted`` that divides ``steps_per_epoch``.

    Keras 3.15 runs whole executions on a repeated dataset: 15 steps an epoch at 10 a call would train 20.
    """
    fused = max(k for k in range(1, min(wanted, steps_per_epoch) + 1) if steps_per_epoch % k == 0)
    if fused != model.steps_per_execution:
        model.steps_per_execution = fused
        model.train_function = None  # traced again with the new count


def _last(history: keras.callbacks.History) -> dict[str, float]:
    return {name: float(values[-1]) for name, values in history.history.items() if values}
