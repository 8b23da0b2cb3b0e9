"""Clients of a TensorFlow Serving model server holding a `jvae-tf export`: REST and gRPC.

Both ask the server the same things (see ``serving/README.md`` and :mod:`jointvae_tf.export`):

- metadata: ``GET /v1/models/NAME[/versions/V]/metadata`` or gRPC ``GetModelMetadata``, to check that
  the ``sample`` signature exists with the inputs this client sends;
- predict: ``POST /v1/models/NAME[/versions/V]:predict`` (JSON, columnar ``inputs`` or row ``instances``;
  string tensors come back as ``{"b64": ...}``) or gRPC ``Predict`` (TensorProtos).

The REST client needs only the standard library; the gRPC client needs the ``grpc`` extra
(``tensorflow-serving-api``), imported when first used. Connection failures are retried a bounded
number of times with exponential backoff; every failure a user can fix (no server at the address,
unknown model or version, signature mismatch, request rejected) is one-line :class:`JointVAEError`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import time
import types
import urllib.error
import urllib.request
from typing import Callable, TypeVar

import numpy as np

from jointvae_tf import sampling
from jointvae_tf.errors import JointVAEError, RunFailure

T = TypeVar("T")

SAMPLE_SIGNATURE = "sample"
SAMPLE_INPUTS = {"seed": ("DT_INT64", 1), "category": ("DT_INT32", 2)}
"""Inputs this client sends to ``sample``: name -> (dtype, rank)."""

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

    Subclasses implement :meth:`_metadata` (the ``signature_def`` map as proto-JSON) and
    :meth:`_predict` (numpy inputs -> numpy outputs) and raise :class:`_Transient` for retryable errors.
    """

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy()):
        self.address = address
        self.model = model
        self.version = version
        self.retry = retry
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
        """``n`` images from the ``sample`` signature after checking it (see :func:`sampling.request_rows`).

        Returns the signature's outputs: ``images`` float32 [n, H, W, C], ``z``, ``c``, ``categories``,
        ``png`` (object array of PNG file bytes).
        """
        n_disc = self.check_sample_signature()
        return self.predict(sampling.request_rows(n, seed, category, n_disc), SAMPLE_SIGNATURE)

    def check_sample_signature(self) -> int:
        """Number of discrete variables of the served model, after checking ``sample``'s inputs."""
        signature = self.signatures().get(SAMPLE_SIGNATURE)
        found = {name: (info.dtype, len(info.shape)) for name, info in (signature.inputs if signature else {}).items()}
        if found != SAMPLE_INPUTS:
            raise JointVAEError(
                f"{self.servable}: signature {SAMPLE_SIGNATURE!r} has inputs {found or 'none (no such signature)'}; "
                f"expected {SAMPLE_INPUTS} (name: (dtype, rank)), as written by `jvae-tf export`")
        return signature.inputs["category"].shape[1]

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
    """TF-Serving's REST API at ``address`` (``http://HOST:8501``), standard library only.

    ``row_format``: send ``instances`` (one JSON object per batch row) instead of columnar ``inputs``;
    the answer is ``predictions`` instead of ``outputs``. Both carry the same tensors.
    """

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy(), row_format: bool = False):
        address = address.rstrip("/")
        super().__init__(address if "://" in address else f"http://{address}", model, version, retry)
        self.row_format = row_format
        version_path = f"/versions/{version}" if version is not None else ""
        self.url = f"{self.address}/v1/models/{model}{version_path}"

    def _metadata(self) -> dict:
        return self._call(self.url + "/metadata")["metadata"]["signature_def"]

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
        if self.row_format:
            rows = answer["predictions"]
            named = rows if len(dtypes) > 1 else [{next(iter(dtypes)): row} for row in rows]
            outputs = {name: [row[name] for row in named] for name in dtypes}
        else:
            outputs = answer["outputs"] if len(dtypes) > 1 else {next(iter(dtypes)): answer["outputs"]}
        return {name: _from_json(value, dtypes[name]) for name, value in outputs.items()}

    def _call(self, url: str, body: dict | None = None, signature_name: str = "") -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.retry.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            message = _error_message(error)
            if error.code == 404:
                raise JointVAEError(f"{self.servable}: not found ({message})") from None
            if error.code == 400:
                raise JointVAEError(f"{self.servable}: rejected the {signature_name or 'metadata'} request "
                                    f"({message})") from None
            if error.code == 503:
                raise _Transient(f"HTTP 503: {message}") from None
            raise RunFailure(f"{self.servable}: HTTP {error.code} ({message})") from None
        except (TimeoutError, socket.timeout):
            raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s (--timeout)") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s (--timeout)") from None
            raise _Transient(str(error.reason)) from None
        except (ConnectionError, json.JSONDecodeError) as error:
            raise _Transient(str(error)) from None


class GrpcClient(ServingClient):
    """TF-Serving's gRPC ``PredictionService`` at ``address`` (``HOST:8500``); needs the ``grpc`` extra."""

    MAX_MESSAGE_BYTES = 256 * 1024 * 1024

    def __init__(self, address: str, model: str = "jointvae", version: int | None = None,
                 retry: RetryPolicy = RetryPolicy()):
        super().__init__(address, model, version, retry)
        grpc, apis = _grpc_modules()
        self._grpc, self._apis = grpc, apis
        options = [("grpc.max_receive_message_length", self.MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", self.MAX_MESSAGE_BYTES)]
        self._channel = grpc.insecure_channel(address, options=options)
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
        return json_format.MessageToDict(signature_map, preserving_proto_field_name=True)

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
                raise JointVAEError(f"{self.servable}: not found ({details})") from None
            if status == code.DEADLINE_EXCEEDED:
                raise RunFailure(f"{self.servable}: no answer within {self.retry.timeout:g} s (--timeout)") from None
            if status in (code.INVALID_ARGUMENT, code.FAILED_PRECONDITION):
                raise JointVAEError(f"{self.servable}: rejected the {what} request ({details})") from None
            raise RunFailure(f"{self.servable}: {status.name} ({details})") from None


def _grpc_modules():
    """``(grpc, namespace of tensorflow_serving.apis modules)``, or JointVAEError naming the extra."""
    try:
        import grpc
        import tensorflow  # noqa: F401  (tensorflow_serving's protos need TensorFlow's imported first)
        from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc
    except ImportError as error:
        raise JointVAEError(f"--grpc: the gRPC client needs tensorflow-serving-api ({error}); "
                            "pip install jointvae-tf[grpc]") from None
    return grpc, types.SimpleNamespace(get_model_metadata_pb2=get_model_metadata_pb2, predict_pb2=predict_pb2,
                                       prediction_service_pb2_grpc=prediction_service_pb2_grpc)


def _parse_signature(definition: dict) -> Signature:
    """A :class:`Signature` from one proto-JSON ``SignatureDef`` (snake_case field names)."""

    def tensors(infos: dict) -> dict[str, TensorInfo]:
        return {name: TensorInfo(info.get("dtype", "DT_INVALID"),
                                 tuple(int(dim.get("size", -1)) for dim in info.get("tensor_shape", {}).get("dim", [])))
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
