"""The run folder: its layout, starting or resuming a run in it, and opening a trained one.

Layout::

    RUN_DIR/config.json         RunConfig: everything needed to rebuild the model
    RUN_DIR/checkpoints/        model + optimizer state by step (checkpoints.Checkpointer; newest 3 kept)
    RUN_DIR/logs/train, logs/validation, logs/pictures   TensorBoard event files
    RUN_DIR/pictures/           traversals, reconstructions, samples, training-progress GIF
    RUN_DIR/model.keras         the trained model as one Keras file
    RUN_DIR/restarts.json       the candidates' label-free scores, with ``train.restarts`` (restarts.py)
    RUN_DIR/stopped.json        the step a run ended at before its budget, and why (training.early_stopping)
    RUN_DIR/.lock               held by the process training in the folder (lock.py)

Files are written under a temporary name and renamed into place (``*.tmp``, ``.partial-model.keras``);
the next process to hold the folder removes those a killed or failed writer left.
"""

from __future__ import annotations

import dataclasses
import os

import keras

from jointvae_tf.run_folders.checkpoints import Checkpointer
from jointvae_tf.run_folders.lock import LOCK_FILE
from jointvae_tf.core import distribute
from jointvae_tf.core.config import RESUMABLE, DataConfig, RunConfig
from jointvae_tf.data import resolve_classes
from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.core.model import JointVAE


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The paths of the run folder at ``path`` (nothing is read or created)."""

    path: str

    @property
    def config(self) -> str:
        return os.path.join(self.path, "config.json")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.path, "checkpoints")

    @property
    def logs(self) -> str:
        """TensorBoard root: Keras writes ``train/`` and ``validation/`` under it."""
        return os.path.join(self.path, "logs")

    @property
    def validation_logs(self) -> str:
        return os.path.join(self.logs, "validation")

    @property
    def picture_logs(self) -> str:
        return os.path.join(self.logs, "pictures")

    @property
    def pictures(self) -> str:
        return os.path.join(self.path, "pictures")

    @property
    def model_file(self) -> str:
        return os.path.join(self.path, "model.keras")

    @property
    def partial_model_file(self) -> str:
        """Where :attr:`model_file` is written before it is renamed into place."""
        return os.path.join(self.path, f".partial-{os.path.basename(self.model_file)}")

    @property
    def restarts(self) -> str:
        return os.path.join(self.path, "restarts.json")

    @property
    def stopped(self) -> str:
        return os.path.join(self.path, "stopped.json")

    @property
    def lock(self) -> str:
        return os.path.join(self.path, LOCK_FILE)

    def remove_partial(self) -> list[str]:
        """Remove the files that writers killed or failed mid-write left (checkpoints' ``*.tmp``, config's
        ``config.json.tmp``, ``.partial-model.keras``); returns their paths. Only for the folder's holder
        (:func:`~jointvae_tf.run_folders.lock.lock_run_folder`)."""
        partial = [path for path in (self.config + ".tmp", self.partial_model_file) if os.path.exists(path)]
        for path in partial:
            os.remove(path)
        return partial + self.checkpointer(None).remove_partial()

    def checkpointer(self, model: keras.Model | None) -> Checkpointer:
        """The folder's checkpoints of ``model`` (None: only to list them)."""
        return Checkpointer(self.checkpoints, model)


@dataclasses.dataclass
class LoadedRun:
    """A trained run: its config, its model at the latest checkpoint (compiled with the run's optimizer,
    whose state the checkpoint restores, so ``model.fit`` continues the run), that checkpoint's step, and
    the label names of its dataset (for an image folder, its class folders; empty when unknown)."""

    config: RunConfig
    model: JointVAE
    step: int
    class_names: tuple[str, ...]


def prepare_run(run: RunConfig, run_dir: str, resume: bool) -> RunConfig:
    """Create the run folder and its config.json, or reload the config for ``resume``.

    A fresh run refuses a folder that already holds checkpoints, so no earlier work is overwritten.
    On resume, the stored config wins, except for the settings a resume may change
    (:data:`~jointvae_tf.core.config.RESUMABLE`: the length, to train further, and the devices).
    """
    folder = RunFolder(run_dir)
    if resume:
        stored = RunConfig.load(folder.config)
        given = run.settings()
        return RunConfig.from_settings({**stored.settings(), **{path: given[path] for path in RESUMABLE}})
    if os.path.isdir(run_dir) and folder.checkpointer(None).checkpoints():
        raise ConfigError("run_dir", f"{run_dir} already holds a trained run; pass resume=True to continue it, "
                          "or choose another folder")
    os.makedirs(run_dir, exist_ok=True)
    run.save(folder.config)
    return run


def open_run(run_dir: str) -> LoadedRun:
    """Rebuild the model of a run folder from its config.json and load its latest checkpoint, weights,
    optimizer state and training step: ``open_run(run_dir).model.fit(...)`` continues the run's schedules."""
    folder = RunFolder(run_dir)
    if not os.path.isfile(folder.config):
        raise ConfigError("run_dir", f"{run_dir}: no config.json; expected a run folder written by `jvae-tf train`")
    run = RunConfig.load(folder.config)
    model = JointVAE(run.model, seed=run.train.seed)
    model.compile(optimizer=keras.optimizers.Adam(run.train.learning_rate),
                  jit_compile=distribute.resolve_jit(run.train.jit_compile))
    model.build_all()
    step = folder.checkpointer(model).restore_latest(require=True)
    return LoadedRun(config=run, model=model, step=step, class_names=_class_names(run.data))


def _class_names(data: DataConfig) -> tuple[str, ...]:
    """The label names of the run's classes (``data.resolve_classes``), empty when its files are gone."""
    try:
        return tuple(resolve_classes(data))
    except JointVAEError:
        return ()
