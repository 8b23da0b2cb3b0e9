"""Where a model comes from, and :func:`open_predictor`, the one way to reach it.

A source is one of four kinds:

- ``run``: a run folder; its latest checkpoint, exported in this process;
- ``export``: ``saved_models/NAME`` (its highest version) or ``saved_models/NAME/VERSION``, loaded in this
  process;
- ``rest``: a TensorFlow Serving REST address, ``http://HOST:8501`` or ``https://...``;
- ``grpc``: a TensorFlow Serving gRPC address, ``HOST:8500``.

As text (:meth:`ModelSource.parse`), an ``http(s)://`` address is REST, ``grpc://HOST:PORT`` is gRPC and
a folder is an export when it holds a SavedModel or integer version folders, else a run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.run_folders.folder import RunFolder
from jointvae_tf.serving.predictor import Predictor

if TYPE_CHECKING:
    from jointvae_tf.serving.client import RetryPolicy

KINDS = ("run", "export", "rest", "grpc")
GRPC_SCHEME = "grpc://"


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model: ``kind`` (one of :data:`KINDS`) and its ``location`` (folder or address)."""

    kind: str
    location: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise JointVAEError(f"source kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.location:
            raise JointVAEError(f"source: expected a {self.kind} location, got an empty one")

    @classmethod
    def parse(cls, text: str) -> "ModelSource":
        """The source ``text`` names, by its form (see the module docstring)."""
        if text.startswith(("http://", "https://")):
            return cls("rest", text)
        if text.startswith(GRPC_SCHEME):
            return cls("grpc", text[len(GRPC_SCHEME):])
        if os.path.isfile(os.path.join(text, "saved_model.pb")) or _holds_versions(text):
            return cls("export", text)
        return cls("run", text)

    def __str__(self) -> str:
        return f"{GRPC_SCHEME}{self.location}" if self.kind == "grpc" else self.location


def open_predictor(source: ModelSource | str, *, model: str = "jointvae", version: int | None = None,
                   retry: RetryPolicy | None = None, max_batch_size: int | None = None,
                   tls_ca: str | None = None) -> Predictor:
    """The :class:`~jointvae_tf.serving.predictor.Predictor` of ``source``.

    Args:
      source: a :class:`ModelSource`, or text parsed by :meth:`ModelSource.parse`.
      model, version: the served model's name and version (a server; default: its latest version).
      retry: a server's :class:`~jointvae_tf.serving.client.RetryPolicy` (tries and the deadline of each call).
      max_batch_size: the server's largest batch (default: ``serving/batching_parameters.txt``'s).
      tls_ca: PEM certificate of the certificate authority a server's TLS is checked against.

    Server settings given for a model in this process are a JointVAEError naming them.
    """
    source = source if isinstance(source, ModelSource) else ModelSource.parse(source)
    if source.kind in ("rest", "grpc"):
        from jointvae_tf.serving import client

        options = {"retry": retry or client.RetryPolicy(), "tls_ca": tls_ca,
                   "max_batch_size": client.MAX_BATCH_SIZE if max_batch_size is None else max_batch_size}
        kind = client.RestClient if source.kind == "rest" else client.GrpcClient
        return kind(source.location, model, version, **options)
    given = [name for name, value in (("version", version), ("retry", retry), ("max_batch_size", max_batch_size),
                                      ("tls_ca", tls_ca)) if value is not None]
    if given:
        raise ConfigError(given[0], f"only for a model on a server, not for the {source.kind} {source.location}")
    from jointvae_tf.serving.local import LocalPredictor

    if source.kind == "export":
        return LocalPredictor(source.location)
    if not os.path.isdir(source.location):
        raise ConfigError("run_dir", f"{source.location}: no such folder; expected a run folder written by "
                          "`jvae-tf train` or an export written by `jvae-tf export`")
    if not os.path.isfile(RunFolder(source.location).config):
        raise ConfigError("run_dir", f"{source.location}: no config.json, so not a run folder; nor an export (no "
                          "saved_model.pb or version folders)")
    return LocalPredictor.from_run(source.location)


def _holds_versions(path: str) -> bool:
    from jointvae_tf.serving.export import list_versions

    return bool(list_versions(path))
