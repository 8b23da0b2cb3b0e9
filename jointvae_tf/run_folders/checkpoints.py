"""Atomic, resumable checkpoints of a model and its optimizer in one folder (``RUN_DIR/checkpoints``).

Each checkpoint is one ``.npz`` file ``ckpt-STEP.npz`` holding every model and optimizer variable under
a name (weights, Adam moments, iteration count, latent sampling seed state; :func:`named_variables`), so
variables created in another order still load into the right place. It is written to a temporary file,
flushed to disk and renamed into place, so a kill at any moment leaves the previous checkpoint intact;
the newest ``keep`` are kept. A write that fails (a full disk) removes its temporary file and raises
RunFailure. A damaged checkpoint (truncated, overwritten, empty) is named in a warning and skipped for the
newest intact one. Checkpoints written before names were used (keys ``model/0000``, by position) still load,
and so do those written before the model kept its own ``training_step``: it is then taken from the
checkpoint's step, the optimizer's iteration count it was saved at.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import warnings
import zipfile

import keras
import numpy as np

from jointvae_tf.errors import JointVAEError, JointVAEWarning, RunFailure, write_failure

_NAME = re.compile(r"ckpt-(\d+)\.npz$")
PARTIAL_SUFFIX = ".tmp"
"""A checkpoint being written is ``ckpt-STEP.npz.tmp``; one left by a killed or failed writer is removed by
:meth:`Checkpointer.remove_partial` on the run's next start."""
DAMAGED_SUFFIX = ".damaged"
_FORMAT_KEY = "__format__"
_FORMAT = "by-name-1"


def model_variables(layer: keras.Layer, prefix: str = "model/") -> dict[str, keras.Variable]:
    """Every variable of ``layer`` by its place in the layer tree: ``model/encoder/conv0/kernel``,
    ``model/log_scale``, ... (layer and variable names, not the process-wide unique paths Keras makes)."""
    named: dict[str, keras.Variable] = {}
    inside = set()
    for sublayer in getattr(layer, "layers", ()):
        for key, variable in model_variables(sublayer, f"{prefix}{sublayer.name}/").items():
            _add(named, key, variable)
            inside.add(id(variable))
    for variable in layer.variables:
        if id(variable) not in inside:
            _add(named, prefix + variable.name, variable)
    return named


def optimizer_variables(optimizer: keras.optimizers.Optimizer,
                        model_names: dict[str, keras.Variable]) -> dict[str, keras.Variable]:
    """The optimizer's variables by name: a slot (e.g. Adam's ``momentum``) under the name of the model
    variable it follows, ``optimizer/model/encoder/conv0/kernel/momentum``; the others (``iteration``,
    ``learning_rate``) as ``optimizer/NAME``.

    Keras names a slot ``{reference path with / as _}_{slot}`` and makes each kind of slot in the order of
    the variables it was built with; the k-th slot of one kind whose name fits several model variables
    (equal paths in encoder and decoder) follows the k-th of them.
    """
    references = [(key, v) for key, v in model_names.items() if v.trainable]
    seen: collections.Counter = collections.Counter()
    named: dict[str, keras.Variable] = {}
    for variable in optimizer.variables:
        fits = [(key, ref) for key, ref in references if tuple(ref.shape) == tuple(variable.shape)
                and variable.name.startswith(ref.path.replace("/", "_") + "_")]
        if not fits:
            _add(named, f"optimizer/{variable.name}", variable)
            continue
        slot = variable.name[len(fits[0][1].path.replace("/", "_")) + 1:]
        kind = (fits[0][1].path, slot)
        key, _ = fits[min(seen[kind], len(fits) - 1)]
        seen[kind] += 1
        _add(named, f"optimizer/{key}/{slot}", variable)
    return named


def _add(named: dict, key: str, variable) -> None:
    if key in named and named[key] is not variable:
        raise JointVAEError(f"checkpoint: two variables are named {key!r}; give the layers distinct names")
    named[key] = variable


class Checkpointer:
    """Saves and restores ``model`` (and ``model.optimizer`` when it has one) in ``directory``.

    ``model`` may be None to only list the checkpoints. A run folder hands out its own
    (``run_folders.RunFolder.checkpointer``).
    """

    def __init__(self, directory: str, model: keras.Model | None, keep: int = 3):
        self.directory = directory
        self.model = model
        self.keep = keep

    def _variables(self) -> dict[str, keras.Variable]:
        """The model's and its optimizer's variables by name (:func:`model_variables`,
        :func:`optimizer_variables`)."""
        named = model_variables(self.model)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            named.update(optimizer_variables(optimizer, named))
        return named

    def _positional_variables(self) -> dict[str, keras.Variable]:
        """Variables by the keys of checkpoints written before names were used: ``model/0000``, ... in
        creation order."""
        step = getattr(self.model, "training_step", None)
        owners = [("model", [v for v in self.model.variables if v is not step])]
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
        """Write ``ckpt-STEP.npz`` atomically and prune old ones; returns its path.

        A failed write removes its temporary file and raises :func:`~jointvae_tf.errors.write_failure`'s
        error (RunFailure for a full disk); the checkpoints written before stay as they were.
        """
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"ckpt-{step:09d}.npz")
        tmp = path + PARTIAL_SUFFIX
        arrays = {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in self._variables().items()}
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **{_FORMAT_KEY: np.array(_FORMAT)}, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as error:
            _remove_quietly(tmp)
            raise write_failure(path, "the checkpoint", error) from None
        for _, old in self.checkpoints()[:-self.keep]:
            os.remove(old)
        return path

    def remove_partial(self) -> list[str]:
        """Remove the temporary files (``ckpt-*.npz.tmp``) of writes that never finished; returns their paths.

        Only for the folder's one writer (the process holding the run folder's lock): another writer's
        file in progress would go too.
        """
        partial = glob.glob(os.path.join(self.directory, f"ckpt-*.npz{PARTIAL_SUFFIX}"))
        for path in partial:
            _remove_quietly(path)
        return partial

    def restore_latest(self, require: bool = False, owner: bool = False) -> int | None:
        """Load the newest intact checkpoint into the (built) model and optimizer; returns its step or None.

        A checkpoint that cannot be read whole (truncated, overwritten, empty) is skipped for the next older
        one, and a :class:`~jointvae_tf.errors.JointVAEWarning` names both. When every checkpoint is damaged:
        RunFailure. No checkpoint at all: None, or a JointVAEError with ``require``.

        ``owner``: the caller holds the run folder (:func:`jointvae_tf.run_folders.lock_run_folder`) and will
        write checkpoints next, so a damaged one is renamed ``ckpt-STEP.npz.damaged``, kept for a look but
        no longer in the way of the steps written next.
        """
        found = self.checkpoints()
        if not found:
            if require:
                raise JointVAEError(f"{self.directory}: no checkpoint (ckpt-*.npz); train the run first")
            return None
        damaged: list[tuple[str, RunFailure]] = []
        for step, path in reversed(found):
            try:
                stored = read_checkpoint(path)
            except RunFailure as error:
                damaged.append((path, error))
                continue
            self._assign(stored, path, step)
            if damaged:
                if owner:
                    for bad, _ in damaged:
                        os.replace(bad, bad + DAMAGED_SUFFIX)
                more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
                moved = f", renamed *{DAMAGED_SUFFIX}" if owner else ""
                warnings.warn(f"{damaged[0][1]}{more} skipped{moved}; restored step {step} from {path}",
                              JointVAEWarning, stacklevel=2)
            return step
        # Every one damaged: all stay where they are, so a later attempt does not start the run afresh.
        raise RunFailure(f"{damaged[0][1]}; and every older checkpoint of {self.directory} is damaged too"
                         if len(damaged) > 1 else f"{damaged[0][1]}; no older checkpoint to restore instead")

    def _assign(self, stored: dict[str, np.ndarray], path: str, step: int) -> None:
        """Assign the arrays of checkpoint ``path`` (of step ``step``) to the model's and optimizer's variables."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = self._variables() if _FORMAT_KEY in stored else self._positional_variables()
        step_variable = getattr(self.model, "training_step", None)
        step_key = next((name for name, v in variables.items() if v is step_variable), None)
        older = step_variable is not None and (step_key is None or step_key not in stored)
        if older:
            variables.pop(step_key, None)
        # Model variables must all be there; optimizer state may be missing (then it starts afresh).
        mismatched = [name for name, variable in variables.items()
                      if (name in stored or name.startswith("model/"))
                      and (name not in stored or stored[name].shape != tuple(variable.shape))]
        mismatched += [name for name in stored if name.startswith("model/") and name not in variables]
        if mismatched:
            raise JointVAEError(
                f"{path}: checkpoint does not match the model ({mismatched[0]}); was config.json edited?")
        for name, variable in variables.items():
            if name in stored:
                variable.assign(stored[name])
        if older:
            step_variable.assign(step)


def read_checkpoint(path: str) -> dict[str, np.ndarray]:
    """Every array of the checkpoint file ``path`` by name, each read whole and checked (zip CRC); a file that
    is truncated, overwritten or empty is a RunFailure naming it."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise RunFailure(f"{path}: a damaged checkpoint ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    """The first line of an exception's message, shortened, or its type when it has none."""
    text = " ".join(str(error).split())[:160]
    return text or type(error).__name__


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
