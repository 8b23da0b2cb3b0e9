"""Atomic, resumable checkpoints of a model and its optimizer in one folder (``RUN_DIR/checkpoints``).

Each checkpoint is one ``.npz`` file ``ckpt-STEP.npz`` holding every model and optimizer variable by its
position (weights, Adam moments, iteration count, latent sampling seed state). It is written to a temporary
file, flushed to disk and renamed into place, so a kill at any moment leaves the previous checkpoint
intact; the newest ``keep`` are kept.
"""

from __future__ import annotations

import glob
import os
import re

import keras
import numpy as np

from jointvae_tf.errors import JointVAEError

_NAME = re.compile(r"ckpt-(\d+)\.npz$")


class Checkpointer:
    """Saves and restores ``model`` (and ``model.optimizer`` when it has one) in ``directory``.

    ``model`` may be None to only list the checkpoints. A run folder hands out its own
    (``runs.RunFolder.checkpointer``).
    """

    def __init__(self, directory: str, model: keras.Model | None, keep: int = 3):
        self.directory = directory
        self.model = model
        self.keep = keep

    def _variables(self) -> dict[str, keras.Variable]:
        """Variables by a stable key ``owner/index`` (paths repeat across sub-models and get ``_1`` suffixes
        when several models live in one process; the creation order is fixed by the config)."""
        owners = [("model", self.model.variables)]
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            owners.append(("optimizer", optimizer.variables))
        return {f"{owner}/{i:04d}": v for owner, variables in owners for i, v in enumerate(variables)}

    def checkpoints(self) -> list[tuple[int, str]]:
        """``(step, path)`` of every complete checkpoint, oldest first."""
        found = []
        for path in glob.glob(os.path.join(self.directory, "ckpt-*.npz")):
            match = _NAME.search(path)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save(self, step: int) -> str:
        """Write ``ckpt-STEP.npz`` atomically and prune old ones; returns its path."""
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"ckpt-{step:09d}.npz")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **{name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in self._variables().items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        for _, old in self.checkpoints()[:-self.keep]:
            os.remove(old)
        return path

    def restore_latest(self, require: bool = False) -> int | None:
        """Load the newest checkpoint into the (built) model and optimizer; returns its step or None."""
        found = self.checkpoints()
        if not found:
            if require:
                raise JointVAEError(f"{self.directory}: no checkpoint (ckpt-*.npz); train the run first")
            return None
        step, path = found[-1]
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        with np.load(path) as stored:
            for name, variable in self._variables().items():
                if name.startswith("optimizer/") and name not in stored:
                    continue
                if name not in stored or stored[name].shape != tuple(variable.shape):
                    raise JointVAEError(
                        f"{path}: checkpoint does not match the model ({name}); was config.json edited?")
                variable.assign(stored[name])
        return step
