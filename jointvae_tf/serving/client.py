"""Clients of a TensorFlow Serving model server holding a `jvae-tf export`: REST and gRPC, each a
:class:`~jointvae_tf.serving.predictor.Predictor`.

Both ask the server the same things (see ``docs/reference/serving.md`` and :mod:`jointvae_tf.serving.export`):

- metadata: ``GET /v1/models/NAME[/versions/V]/metadata`` or gRPC ``GetModelMetadata``: the signatures,
  against which requests and answers are checked;
- predict: ``POST /v1/models/NAME[/versions/V]:predict`` (JSON, columnar ``inputs`` or row ``instances``;
  string outputs whose name ends in ``_bytes`` come back as ``{"b64": ...}``, other strings as JSON
  strings) or gRPC ``Predict`` (TensorProtos).

The REST client speaks HTTP through the standard library (no extra beyond the package's own
dependencies); the gRPC client needs the ``grpc`` extra
(``tensorflow-serving-api``), imported when first used. Both speak TLS: an ``https://`` REST address, or
``tls_ca`` (a PEM file of the certificate authority) for a secure gRPC channel. Connection failures and
503 are retried a bounded number of times with exponential backoff. Every other failure is one line:
:class:`JointVAEError` for what the caller can fix (unknown model or version, signature mismatch, request
rejected) and :class:`RunFailure` when the server failed (no answer in time, an answer that is not
TF-Serving's JSON or not the signature's shapes). A server's error text is shown through
:func:`~jointvae_tf.serving.predictor.one_line`: no newlines or terminal escapes reach the user.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import json
import os
import socket
import ssl
import threading
import time
import types
import urllib.parse
from typing import Callable, TypeVar

import numpy as np

from jointvae_tf.errors import ConfigError, JointVAEError, RunFailure
from jointvae_tf.serving.export import MAX_VERSION
from jointvae_tf.serving.predictor import Signature, TensorInfo, check_answer, one_line

T = TypeVar("T")

MAX_BATCH_SIZE = 256
"""``max_batch_size`` of ``serving/batching_parameters.txt``: the most rows one request may hold."""
NOT_FOUND_HINT = ("a new export is served only after the server's next file-system poll "
                  "(--file_system_poll_wait_seconds), and serving/models.config serves the latest version only")

_NUMPY_DTYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT64": np.int64,
                 "DT_UINT8": np.uint8, "DT_BOOL": np.bool_, "DT_STRING": object}


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per call on connection errors, waiting ``backoff * 2**i`` seconds after try ``i``;
    ``timeout``: the deadline of each try in seconds, from connecting to the answer's last byte (a server
    that sends its answer slowly is cut off there too)."""

    attempts: int = 4
    backoff: float = 0.5
    timeout: float = 60.0


class _Transient(Exception):
    """A connection-level failure worth retrying."""


class ServingClient:
    """What the REST and gRPC clients share: metadata, answers checked against it, retries.

    ``max_batch_size``: the server's largest batch (rows per request); ``tls_ca``: PEM file of the
    certificate authority to trust (None: the system's). Subclasses implement :meth:`_metadata` (the
    ``signature_def`` map as proto-JSON) and :meth:`_predict` (numpy inputs -> numpy outputs) and raise
    :class:`_Transient` for retryable errors.
    """

    config = None  # a server tells its signatures, not the export's config

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy(), max_batch_size: int = MAX_BATCH_SIZE, tls_ca: str | None = None):
        if max_batch_size < 1:
            raise ConfigError("max_batch_size", f"expected an integer >= 1, got {max_batch_size}")
        if version is not None and not 1 <= version <= MAX_VERSION:
            raise ConfigError("version", f"expected an integer 1 .. {MAX_VERSION} (TF-Serving's int64), got {version}")
        if tls_ca is not None and not os.path.isfile(tls_ca):
            raise ConfigError("tls_ca", f"{tls_ca}: no such file; expected the PEM certificate of the CA to trust")
        self.address = address
        self.model = model
        self.version = version
        self.retry = retry
        self.max_batch_size = max_batch_size
        self._signatures: dict[str, Signature] | None = None

    @property
    def servable(self) -> str:
        """``model NAME [version V] at ADDRESS``, for messages."""
        version = f" version {self.version}" if self.version is not None else ""
        return f"model {self.model!r}{version} at {self.address}"

    def signatures(self) -> dict[str, Signature]:
        """The model's signatures, from the server's metadata (asked once per client)."""
        if self._signatures is None:
            self._signatures = {name: _parse_signature(definition)
                                for name, definition in self._retrying(self._metadata).get("signature_def", {}).items()}
        return self._signatures

    def predict(self, inputs: dict[str, np.ndarray], signature: str = "serving_default") -> dict[str, np.ndarray]:
        """Run ``signature`` on ``inputs`` (name -> array with the batch first); outputs by name, checked
        against the signature's metadata (RunFailure when the server answers other shapes)."""
        definition = self.signatures().get(signature)
        if definition is None:
            raise JointVAEError(f"{self.servable}: no signature {signature!r}; it has {sorted(self.signatures())}")
        outputs = self._retrying(lambda: self._predict(inputs, signature))
        rows = len(next(iter(inputs.values()))) if inputs else 0
        return check_answer(outputs, definition, rows, self.servable, signature)

    def close(self) -> None:
        """Release the connection (nothing is held between REST calls)."""

    def _retrying(self, call: Callable[[], T]) -> T:
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except _Transient as error:
                reason = error
                if attempt + 1 < self.retry.attempts:
                    time.sleep(self.retry.backoff * 2 ** attempt)
        raise RunFailure(f"{self.address}: no TF-Serving answered after {self.retry.attempts} tries "
                         f"({one_line(str(reason))}); is the server running and the address right?")

    def _metadata(self) -> dict:
        raise NotImplementedError

    def _predict(self, inputs: dict[str, np.ndarray], signature_name: str) -> dict[str, np.ndarray]:
        raise NotImplementedError


class RestClient(ServingClient):
    """TF-Serving's REST API at ``address`` (``http://HOST:8501``, or ``https://`` behind a TLS proxy),
    over the standard library's HTTP.

    ``row_format``: send ``instances`` (one JSON object per batch row) instead of columnar ``inputs``;
    the answer is ``predictions`` instead of ``outputs``. Both carry the same tensors.
    """

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy(), row_format: bool = False, max_batch_size: int = MAX_BATCH_SIZE,
                 tls_ca: str | None = None):
        address = address.rstrip("/")
        super().__init__(address if "://" in address else f"http://{address}", model, version, retry,
                         max_batch_size, tls_ca)
        if not self.address.startswith(("http://", "https://")):
            raise ConfigError("address", f"{address}: expected http://HOST:PORT or https://HOST:PORT")
        if tls_ca is not None and not self.address.startswith("https://"):
            raise ConfigError("tls_ca", f"the REST address {address} is not https://")
        self.row_format = row_format
        self._context = ssl.create_default_context(cafile=tls_ca) if self.address.startswith("https://") else None
        version_path = f"/versions/{version}" if version is not None else ""
        self.url = f"{self.address}/v1/models/{model}{version_path}"

    def _metadata(self) -> dict:
        answer = self._call(self.url + "/metadata")
        try:
            return answer["metadata"]["signature_def"]
        except (KeyError, TypeError):
            raise self._not_tf_serving("metadata", f"no metadata.signature_def in {str(answer)[:100]}") from None

    def _predict(self, inputs, signature_name):
        dtypes = {name: info.dtype for name, info in self.signatures()[signature_name].outputs.items()}
        columns = {name: _to_json(value) for name, value in inputs.items()}
        if self.row_format:
            rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
            body = {"signature_name": signature_name, "instances": rows}
        else:
            body = {"signature_name": signature_name, "inputs": columns}
        answer = self._call(self.url + ":predict", body, signature_name)
        try:
            if self.row_format:
                rows = answer["predictions"]
                named = rows if len(dtypes) > 1 else [{next(iter(dtypes)): row} for row in rows]
                outputs = {name: [row[name] for row in named] for name in dtypes}
            else:
                outputs = answer["outputs"] if len(dtypes) > 1 else {next(iter(dtypes)): answer["outputs"]}
            return {name: _from_json(value, dtypes[name]) for name, value in outputs.items()}
        except (KeyError, TypeError, ValueError) as error:
            raise self._not_tf_serving(signature_name, f"{type(error).__name__}: {error}") from None

    def _call(self, url: str, body: dict | None = None, signature_name: str = "") -> dict:
        """The JSON answer of a GET (``body`` None) or POST to ``url``, within ``retry.timeout`` seconds in all."""
        what = signature_name or "metadata"
        status, reason, answer = self._exchange(url, None if body is None else json.dumps(body).encode(), what)
        if status != 200:
            message = _error_message(answer, reason)
            if status == 404:
                raise JointVAEError(f"{self.servable}: not found ({message}); {NOT_FOUND_HINT}")
            if status == 400:
                raise JointVAEError(f"{self.servable}: rejected the {what} request ({message})")
            if status == 503:
                raise _Transient(f"HTTP 503: {message}")
            if status == 504:
                raise RunFailure(f"{self.servable}: the server gave up on the {what} request after its "
                                 f"--rest_api_timeout_in_ms ({message})")
            raise RunFailure(f"{self.servable}: HTTP {status} ({message})")
        try:
            return json.loads(answer)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise self._not_tf_serving(what, f"{type(error).__name__}: {error}") from None

    def _exchange(self, url: str, data: bytes | None, what: str) -> tuple[int, str, bytes]:
        """``(status, reason, body)`` of one HTTP request to ``url``. A timer closes the connection at the
        deadline, so no read outlives it however slowly the server sends (a socket timeout alone bounds
        each read, not their sum)."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.retry.timeout,
                                                     context=self._context)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.retry.timeout)
        expired = threading.Event()

        def cut():
            expired.set()
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.retry.timeout, cut)
        timer.daemon = True
        timer.start()
        try:
            connection.request("GET" if data is None else "POST", path, body=data,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.reason, response.read()
        except (TimeoutError, socket.timeout):
            raise self._too_late() from None
        except ssl.SSLError as error:
            if expired.is_set():
                raise self._too_late() from None
            raise JointVAEError(f"{self.servable}: TLS failed ({one_line(str(error))}); pass the server's CA as "
                                "tls_ca=PATH") from None
        except (http.client.HTTPException, OSError) as error:
            if expired.is_set():
                raise self._too_late() from None
            if isinstance(error, (ConnectionError, http.client.RemoteDisconnected)) or \
                    not isinstance(error, http.client.HTTPException):
                raise _Transient(one_line(str(error) or type(error).__name__)) from None
            raise self._not_tf_serving(what, f"not HTTP: {type(error).__name__} {error}") from None
        finally:
            timer.cancel()
            connection.close()

    def _too_late(self) -> RunFailure:
        return RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s (retry.timeout)")

    def _not_tf_serving(self, what: str, reason: str) -> RunFailure:
        return RunFailure(f"{self.servable}: the answer to the {what} request is not TF-Serving's JSON "
                             f"({one_line(reason)})")


class GrpcClient(ServingClient):
    """TF-Serving's gRPC ``PredictionService`` at ``address`` (``HOST:8500``); needs the ``grpc`` extra.

    With ``tls_ca`` the channel is secure (TF-Serving's ``--ssl_config_file``) and trusts that CA.
    """

    MAX_MESSAGE_BYTES = 256 * 1024 * 1024

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy(), max_batch_size: int = MAX_BATCH_SIZE, tls_ca: str | None = None):
        super().__init__(address, model, version, retry, max_batch_size, tls_ca)
        grpc, apis = _grpc_modules()
        self._grpc, self._apis = grpc, apis
        options = [("grpc.max_receive_message_length", self.MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", self.MAX_MESSAGE_BYTES)]
        if tls_ca is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            with open(tls_ca, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._stub = apis.prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model
        spec.signature_name = signature_name
        if self.version is not None:
            spec.version.value = self.version

    def _metadata(self) -> dict:
        from google.protobuf import json_format

        request = self._apis.get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._rpc(self._stub.GetModelMetadata, request, "metadata")
        signature_map = self._apis.get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return json_format.MessageToDict(signature_map, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)  # keeps size-0 dims

    def _predict(self, inputs, signature_name):
        import tensorflow as tf

        request = self._apis.predict_pb2.PredictRequest()
        self._spec(request.model_spec, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self._rpc(self._stub.Predict, request, signature_name)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def _rpc(self, method, request, what: str):
        code = self._grpc.StatusCode
        try:
            return method(request, timeout=self.retry.timeout)
        except self._grpc.RpcError as error:
            status, details = error.code(), one_line(error.details() or "")
            if status == code.UNAVAILABLE:
                raise _Transient(details) from None
            if status == code.NOT_FOUND:
                raise JointVAEError(f"{self.servable}: not found ({details}); {NOT_FOUND_HINT}") from None
            if status == code.DEADLINE_EXCEEDED:
                raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s "
                                 "(retry.timeout)") from None
            if status in (code.INVALID_ARGUMENT, code.FAILED_PRECONDITION):
                raise JointVAEError(f"{self.servable}: rejected the {what} request ({details})") from None
            raise RunFailure(f"{self.servable}: {status.name} ({details})") from None


def _grpc_modules():
    """``(grpc, namespace of tensorflow_serving.apis modules)``, or JointVAEError naming the extra."""
    try:
        import grpc
        import tensorflow  # noqa: F401  (tensorflow_serving's protos need TensorFlow's imported first)
        from tensorflow_serving.apis import (
            get_model_metadata_pb2,
            predict_pb2,
            prediction_service_pb2_grpc,
        )
    except ImportError as error:
        raise JointVAEError(f"the gRPC client needs tensorflow-serving-api ({error}); "
                            "pip install 'jointvae-tf[grpc]'") from None
    return grpc, types.SimpleNamespace(get_model_metadata_pb2=get_model_metadata_pb2, predict_pb2=predict_pb2,
                                       prediction_service_pb2_grpc=prediction_service_pb2_grpc)


def _parse_signature(definition: dict) -> Signature:
    """A :class:`Signature` from one proto-JSON ``SignatureDef`` (snake_case field names). A field left out
    holds proto3's default (a dim without ``size`` has size 0), whether or not the printer wrote it."""

    def tensors(infos: dict) -> dict[str, TensorInfo]:
        return {name: TensorInfo(info.get("dtype", "DT_INVALID"),
                                 tuple(int(dim.get("size", 0)) for dim in info.get("tensor_shape", {}).get("dim", [])))
                for name, info in infos.items()}

    return Signature(tensors(definition.get("inputs", {})), tensors(definition.get("outputs", {})))


def _to_json(value) -> list:
    """TF-Serving's JSON for a tensor: numbers as they are, byte strings as ``{"b64": ...}`` (image files for
    ``encode_image``), which its REST API decodes for string inputs."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "S":
        return np.vectorize(lambda item: {"b64": base64.b64encode(item).decode("ascii")},
                            otypes=[object])(array).tolist()
    return array.tolist()


def _from_json(value, dtype: str) -> np.ndarray:
    """A numpy array from TF-Serving's JSON for a tensor of ``dtype`` (strings as ``{"b64": ...}``)."""
    if dtype == "DT_STRING":
        return np.vectorize(lambda item: base64.b64decode(item["b64"]) if isinstance(item, dict) else item.encode(),
                            otypes=[object])(np.asarray(value, dtype=object))
    return np.asarray(value, dtype=_NUMPY_DTYPES.get(dtype, np.float32))


def _error_message(body: bytes, reason: str) -> str:
    """The ``error`` field of TF-Serving's JSON error body, else the raw body, on one line."""
    text = body.decode(errors="replace")
    try:
        return one_line(str(json.loads(text)["error"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return one_line(text or reason)
