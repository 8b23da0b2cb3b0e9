"""jointvae-tf: JointVAE (Dupont 2018) in Keras/TensorFlow.

The package's folders are its layers, each importing only from those below it (docs/reference/architecture.md):
``core`` (configs, latents, losses, networks, the model), ``data``, ``run_folders`` (run folders, checkpoints),
``evaluation``, ``viz``, ``training``, ``serving``, and ``cli`` on top.

The public names below load on first use, so ``import jointvae_tf`` and ``jvae-tf --help`` do not start
TensorFlow. :class:`JointVAE` is registered with Keras when it loads; importing the package after ``keras``
loads it at once, so ``keras.models.load_model`` reads ``RUN_DIR/model.keras`` without ``custom_objects``.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

_PUBLIC = {
    "CapacitySchedule": "jointvae_tf.core.config", "DataConfig": "jointvae_tf.core.config",
    "InvarianceConfig": "jointvae_tf.core.config", "LatentSpec": "jointvae_tf.core.config",
    "LossConfig": "jointvae_tf.core.config", "ModelConfig": "jointvae_tf.core.config",
    "RunConfig": "jointvae_tf.core.config", "TrainConfig": "jointvae_tf.core.config",
    "JointVAE": "jointvae_tf.core.model", "compose": "jointvae_tf.core.latents",
    "JointVAEError": "jointvae_tf.errors",
    "load_examples": "jointvae_tf.data", "make_dataset": "jointvae_tf.data",
    "LoadedRun": "jointvae_tf.run_folders", "open_run": "jointvae_tf.run_folders",
    "encode_dataset": "jointvae_tf.evaluation.inference",
    "write_pictures": "jointvae_tf.viz.visualize",
    "TrainingResult": "jointvae_tf.training.trainer", "train": "jointvae_tf.training.trainer",
    "StopWhenSettled": "jointvae_tf.training.early_stopping",
}
"""Each public name and the module that defines it."""

try:
    __version__ = metadata.version("jointvae-tf")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'jointvae_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if "keras" in sys.modules:  # a Keras user: register JointVAE now, for keras.models.load_model
    importlib.import_module("jointvae_tf.core.model")
