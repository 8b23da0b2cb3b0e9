"""Clients of a TensorFlow Serving model server holding a `jvae-tf export`: REST and gRPC.

Both ask the server the same things (see ``docs/reference/serving.md`` and :mod:`jointvae_tf.serving.export`):

- metadata: ``GET /v1/models/NAME[/versions/V]/metadata`` or gRPC ``GetModelMetadata``, to check that
  the ``sample`` signature exists with the inputs this client sends;
- predict: ``POST /v1/models/NAME[/versions/V]:predict`` (JSON, columnar ``inputs`` or row ``instances``;
  string outputs whose name ends in ``_bytes`` come back as ``{"b64": ...}``, other strings as JSON
  strings) or gRPC ``Predict`` (TensorProtos).

The REST client speaks HTTP through the standard library (no extra beyond the package's own
dependencies); the gRPC client needs the ``grpc`` extra
(``tensorflow-serving-api``), imported when first used. Both speak TLS: an ``https://`` REST address, or
``tls_ca`` (a PEM file of the certificate authority) for a secure gRPC channel. :meth:`ServingClient.sample`
checks its request against the metadata first and splits it into requests of at most ``max_batch_size``
rows (TF-Serving's batching rejects larger ones). Connection failures and 503 are retried a bounded
number of times with exponential backoff; every other failure (no server at the address, unknown model
or version, signature mismatch, request rejected, an answer that is not TF-Serving's JSON) is one-line
:class:`JointVAEError`.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import os
import socket
import ssl
import time
import types
import urllib.error
import urllib.request
from typing import Callable, TypeVar

import numpy as np

from jointvae_tf.core import sampling
from jointvae_tf.errors import ConfigError, JointVAEError, RunFailure

T = TypeVar("T")

SAMPLE_SIGNATURE = "sample"
SAMPLE_INPUTS = {"seed": ("DT_INT64", 1), "category": ("DT_INT32", 2)}
"""Inputs this client sends to ``sample``: name -> (dtype, rank)."""
MAX_BATCH_SIZE = 256
"""``max_batch_size`` of ``serving/batching_parameters.txt``: the most rows one request may hold."""
NOT_FOUND_HINT = ("a new export is served only after the server's next file-system poll "
                  "(--file_system_poll_wait_seconds), and serving/models.config serves the latest version only")

_NUMPY_DTYPES = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT64": np.int64,
                 "DT_UINT8": np.uint8, "DT_BOOL": np.bool_, "DT_STRING": object}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A signature's input or output as the server describes it: dtype name and shape (-1 = any)."""

    dtype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Signature:
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries per call on connection errors, waiting ``backoff * 2**i`` seconds after try ``i``;
    ``timeout`` seconds for each answer."""

    attempts: int = 4
    backoff: float = 0.5
    timeout: float = 60.0


class _Transient(Exception):
    """A connection-level failure worth retrying."""


class ServingClient:
    """What the REST and gRPC clients share: metadata check, sampling, retries.

    ``max_batch_size``: the server's largest batch (rows per request); ``tls_ca``: PEM file of the
    certificate authority to trust (None: the system's). Subclasses implement :meth:`_metadata` (the
    ``signature_def`` map as proto-JSON) and :meth:`_predict` (numpy inputs -> numpy outputs) and raise
    :class:`_Transient` for retryable errors.
    """

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy(), max_batch_size: int = MAX_BATCH_SIZE, tls_ca: str | None = None):
        if max_batch_size < 1:
            raise ConfigError("max_batch_size", f"expected an integer >= 1, got {max_batch_size}")
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

    def predict(self, inputs: dict[str, np.ndarray], signature_name: str = "serving_default") -> dict[str, np.ndarray]:
        """Run ``signature_name`` on ``inputs`` (name -> array with the batch first); outputs by name."""
        return self._retrying(lambda: self._predict(inputs, signature_name))

    def sample(self, n: int, seed: int = 0, category=()) -> dict[str, np.ndarray]:
        """``n`` images from the ``sample`` signature after checking it (see :func:`sampling.request_rows`),
        in requests of at most ``max_batch_size`` rows.

        Returns the signature's outputs: ``images`` float32 [n, H, W, C], ``z``, ``c``, ``categories``,
        ``png_bytes`` (object array of PNG file bytes), ``row_error`` (all empty).
        """
        rows = sampling.request_rows(n, seed, category, self.category_counts())
        parts = [self.predict({name: value[start:start + self.max_batch_size] for name, value in rows.items()},
                              SAMPLE_SIGNATURE) for start in range(0, n, self.max_batch_size)]
        outputs = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        return sampling.raise_row_errors(outputs, f"{self.servable}: category={rows['category'][0].tolist()}")

    def check_sample_signature(self) -> int:
        """Number of discrete variables of the served model, after checking ``sample``'s inputs."""
        signature = self.signatures().get(SAMPLE_SIGNATURE)
        found = {name: (info.dtype, len(info.shape)) for name, info in (signature.inputs if signature else {}).items()}
        if found != SAMPLE_INPUTS:
            raise JointVAEError(
                f"{self.servable}: signature {SAMPLE_SIGNATURE!r} has inputs {found or 'none (no such signature)'}; "
                f"expected {SAMPLE_INPUTS} (name: (dtype, rank)), as written by `jvae-tf export`")
        return signature.inputs["category"].shape[1]

    def category_counts(self) -> list[int | None]:
        """Category count K_i of each discrete variable, as far as the metadata tells: the width of
        ``sample``'s ``c`` output is sum(K_i), so K is known when there is one variable; ``None`` otherwise
        (the graph then answers an out-of-range row with its ``row_error``)."""
        n_disc = self.check_sample_signature()
        width = self.signatures()[SAMPLE_SIGNATURE].outputs.get("c", TensorInfo("DT_FLOAT", (-1, -1))).shape[-1]
        return [width] if n_disc == 1 and width >= 0 else [None] * n_disc

    def _retrying(self, call: Callable[[], T]) -> T:
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except _Transient as error:
                reason = error
                if attempt + 1 < self.retry.attempts:
                    time.sleep(self.retry.backoff * 2 ** attempt)
        raise RunFailure(f"{self.address}: no TF-Serving answered after {self.retry.attempts} tries ({reason}); "
                            "is the server running and the address right?")

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
        signature = self.signatures().get(signature_name)
        if signature is None:
            raise JointVAEError(f"{self.servable}: no signature {signature_name!r}; it has {sorted(self.signatures())}")
        dtypes = {name: info.dtype for name, info in signature.outputs.items()}
        columns = {name: np.asarray(value).tolist() for name, value in inputs.items()}
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
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        what = signature_name or "metadata"
        try:
            with urllib.request.urlopen(request, timeout=self.retry.timeout, context=self._context) as response:
                answer = response.read()
        except urllib.error.HTTPError as error:
            message = _error_message(error)
            if error.code == 404:
                raise JointVAEError(f"{self.servable}: not found ({message}); {NOT_FOUND_HINT}") from None
            if error.code == 400:
                raise JointVAEError(f"{self.servable}: rejected the {what} request ({message})") from None
            if error.code == 503:
                raise _Transient(f"HTTP 503: {message}") from None
            if error.code == 504:
                raise RunFailure(f"{self.servable}: the server gave up on the {what} request after its "
                                    f"--rest_api_timeout_in_ms ({message})") from None
            raise RunFailure(f"{self.servable}: HTTP {error.code} ({message})") from None
        except (TimeoutError, socket.timeout):
            raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s "
                             "(retry.timeout)") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s "
                                 "(retry.timeout)") from None
            if isinstance(error.reason, ssl.SSLError):
                raise JointVAEError(f"{self.servable}: TLS failed ({error.reason}); pass the server's CA as "
                                    "tls_ca=PATH") from None
            raise _Transient(str(error.reason)) from None
        except ConnectionError as error:
            raise _Transient(str(error)) from None
        except http.client.HTTPException as error:
            raise self._not_tf_serving(what, f"not HTTP: {type(error).__name__} {error}") from None
        try:
            return json.loads(answer)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._not_tf_serving(what, f"{type(error).__name__}: {error}") from None

    def _not_tf_serving(self, what: str, reason: str) -> RunFailure:
        return RunFailure(f"{self.servable}: the answer to the {what} request is not TF-Serving's JSON "
                             f"({sampling.check_message(reason)})")


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
            status, details = error.code(), sampling.check_message(error.details() or "")
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


def _from_json(value, dtype: str) -> np.ndarray:
    """A numpy array from TF-Serving's JSON for a tensor of ``dtype`` (strings as ``{"b64": ...}``)."""
    if dtype == "DT_STRING":
        return np.vectorize(lambda item: base64.b64decode(item["b64"]) if isinstance(item, dict) else item.encode(),
                            otypes=[object])(np.asarray(value, dtype=object))
    return np.asarray(value, dtype=_NUMPY_DTYPES.get(dtype, np.float32))


def _error_message(error: urllib.error.HTTPError) -> str:
    """The ``error`` field of TF-Serving's JSON error body, else the raw body."""
    body = error.read().decode(errors="replace")
    try:
        return sampling.check_message(str(json.loads(body)["error"]))
    except (ValueError, KeyError, TypeError):
        return sampling.check_message(body or str(error.reason))

