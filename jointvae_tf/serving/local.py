"""A model in this process: an export folder, or a run's latest checkpoint exported on the fly.

Both answer through the SavedModel's own signatures, so a run sampled or explored in this process gives
exactly what its export gives on a server.
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from jointvae_tf.errors import JointVAEError
from jointvae_tf.serving import export
from jointvae_tf.serving.predictor import Signature, TensorInfo, check_answer, one_line


class LocalPredictor:
    """The signatures of a SavedModel written by ``jvae-tf export``, loaded in this process
    (a :class:`~jointvae_tf.serving.predictor.Predictor`).

    Args:
      export_dir: ``saved_models/NAME/VERSION``, or ``saved_models/NAME`` for its highest version.
    """

    max_batch_size = None

    def __init__(self, export_dir: str, servable: str | None = None):
        self.export_dir = export.resolve_export_dir(export_dir)
        self.config = export.ExportConfig.load(self.export_dir)
        self.servable = servable or f"export {self.export_dir}"
        self._loaded = tf.saved_model.load(self.export_dir)
        self._signatures = {name: Signature(_describe(function.structured_input_signature[1]),
                                            _describe(function.structured_outputs))
                            for name, function in self._loaded.signatures.items()}

    @classmethod
    def from_run(cls, run_dir: str) -> "LocalPredictor":
        """The latest checkpoint of ``run_dir``, exported to a temporary folder that is removed as soon as
        the SavedModel is loaded (its variables are then in memory), so nothing is left behind."""
        folder = tempfile.mkdtemp(prefix="jvae-predictor-")
        try:
            export_dir = export.export_run(run_dir, out=folder)
            predictor = cls(export_dir, servable="")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        predictor.export_dir = None
        predictor.servable = f"{run_dir} (step {predictor.config.step})"
        return predictor

    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    def predict(self, inputs: dict[str, np.ndarray], signature: str = "serving_default") -> dict[str, np.ndarray]:
        """Run ``signature`` on ``inputs``; JointVAEError naming the servable when the graph rejects them."""
        if signature not in self._signatures:
            raise JointVAEError(f"{self.servable}: no signature {signature!r}; it has {sorted(self._signatures)}")
        try:
            outputs = self._loaded.signatures[signature](**{name: tf.constant(value) for name, value in inputs.items()})
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
            text = error.message if isinstance(error, tf.errors.OpError) else str(error)
            raise JointVAEError(f"{self.servable}: {signature} rejected the request ({one_line(text)})") from None
        outputs = {name: value.numpy() for name, value in outputs.items()}
        rows = len(next(iter(inputs.values()))) if inputs else 0
        return check_answer(outputs, self._signatures[signature], rows, self.servable, signature)

    def close(self) -> None:
        """Nothing to release: the model goes with the object."""


def _describe(specs) -> dict[str, TensorInfo]:
    """TensorSpecs by name as TF-Serving's metadata describes them (``DT_FLOAT``, -1 for unknown sizes)."""
    return {name: TensorInfo(types_pb2.DataType.Name(tf.dtypes.as_dtype(spec.dtype).as_datatype_enum),
                             tuple(-1 if size is None else int(size) for size in spec.shape))
            for name, spec in specs.items()}
