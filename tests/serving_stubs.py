"""Loopback stand-ins for TensorFlow Serving (its binary cannot be installed here).

They answer TF-Serving's documented endpoints by running the SavedModel's signatures in this process:

- REST (``http.server`` in a thread): ``GET /v1/models/NAME[/versions/V]`` (status),
  ``GET .../metadata`` (``GetModelMetadataResponse`` as proto-JSON), ``POST ...:predict`` with row
  (``instances`` -> ``predictions``) or columnar (``inputs`` -> ``outputs``) bodies, string tensors as
  ``{"b64": ...}``; errors as ``{"error": ...}`` with 404 (unknown model or version) or 400 (bad input).
- gRPC (``grpc.server`` on a loopback port): ``PredictionService.Predict`` and ``GetModelMetadata``
  from tensorflow-serving-api's protos, NOT_FOUND / INVALID_ARGUMENT as TF-Serving answers them.

Versions are discovered as TF-Serving does, with :func:`jointvae_tf.export.list_versions` (integer
folders only), and the latest is served when a request names none. :func:`make_run` writes a tiny
untrained run folder to export.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from jointvae_tf.runs import RunFolder, prepare_run
from jointvae_tf.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.export import list_versions
from jointvae_tf.training import build_model


def make_run(directory: str, latent: LatentSpec = LatentSpec(3, (4,))) -> str:
    """A run folder (config.json and an untrained step-0 checkpoint) of a 32x32x1 model, to export."""
    run = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=latent))
    prepare_run(run, directory, resume=False)
    RunFolder(directory).checkpointer(build_model(run)).save(0)
    return directory


class NotFound(Exception):
    pass


class BadRequest(Exception):
    pass


class StubModels:
    """The servables: ``{name: model base folder}``; loads each version once, on first use."""

    def __init__(self, models: dict[str, str]):
        self.models = models
        self._loaded: dict[tuple[str, int], object] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str, version: int | None) -> int:
        versions = list_versions(self.models[name]) if name in self.models else []
        if version is None and versions:
            return versions[-1]
        if version in versions:
            return version
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        raise NotFound(f"Servable not found for request: {request}")

    def signature_defs(self, name: str, version: int) -> get_model_metadata_pb2.SignatureDefMap:
        saved_model = saved_model_pb2.SavedModel()
        with open(f"{self.models[name]}/{version}/saved_model.pb", "rb") as f:
            saved_model.ParseFromString(f.read())
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, definition in saved_model.meta_graphs[0].signature_def.items():
            if not key.startswith("__"):
                signature_map.signature_def[key].CopyFrom(definition)
        return signature_map

    def metadata(self, name: str, version: int | None) -> get_model_metadata_pb2.GetModelMetadataResponse:
        version = self.resolve(name, version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(self.signature_defs(name, version))
        return response

    def predict(self, name: str, version: int | None, signature_name: str, inputs: dict[str, object],
                check_dtypes: bool) -> tuple[int, dict[str, np.ndarray]]:
        """Run a signature; ``inputs`` are converted to its dtypes (REST) or must match them (gRPC)."""
        version = self.resolve(name, version)
        with self._lock:
            if (name, version) not in self._loaded:
                self._loaded[name, version] = tf.saved_model.load(f"{self.models[name]}/{version}")
            loaded = self._loaded[name, version]
        function = loaded.signatures.get(signature_name or "serving_default")
        if function is None:
            raise BadRequest(f"Serving signature name: \"{signature_name}\" not found in signature def")
        specs = function.structured_input_signature[1]
        if list(inputs) == [None] and len(specs) == 1:
            inputs = {next(iter(specs)): inputs[None]}
        if set(inputs) != set(specs):
            raise BadRequest(f"input names {sorted(inputs)} do not match the signature's {sorted(specs)}")
        tensors = {}
        for key, spec in specs.items():
            value = np.asarray(inputs[key])
            if check_dtypes and value.dtype != spec.dtype.as_numpy_dtype:
                raise BadRequest(f"Expects arg {key} to be {spec.dtype.name} but {value.dtype} is provided")
            try:
                tensors[key] = tf.constant(value, dtype=spec.dtype)
            except (TypeError, ValueError) as error:
                raise BadRequest(f"{key}: {error}") from None
        try:
            outputs = function(**tensors)
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as error:
            raise BadRequest(str(getattr(error, "message", error))) from None
        return version, {key: value.numpy() for key, value in outputs.items()}


def _to_json(value: np.ndarray):
    if value.dtype == object:
        return np.vectorize(lambda item: {"b64": base64.b64encode(item).decode()}, otypes=[object])(value).tolist()
    return value.tolist()


_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata|:predict)?$")


def _handler(models: StubModels):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str):
            match = _PATH.match(self.path)
            if not match or (match.group(3) == ":predict") != (method == "POST"):
                return self._answer(404, {"error": f"Malformed request: {method} {self.path}"})
            name, version, action = match.group(1), match.group(2), match.group(3)
            version = int(version) if version else None
            try:
                if action is None:
                    found = models.resolve(name, version)
                    self._answer(200, {"model_version_status": [{"version": str(found), "state": "AVAILABLE", "status": {
                        "error_code": "OK", "error_message": ""}}]})
                elif action == "/metadata":
                    self._answer(200, json_format.MessageToDict(models.metadata(name, version),
                                                                preserving_proto_field_name=True))
                else:
                    self._answer(200, self._predict(name, version))
            except NotFound as error:
                self._answer(404, {"error": str(error)})
            except BadRequest as error:
                self._answer(400, {"error": str(error)})

        def _predict(self, name: str, version: int | None) -> dict:
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except json.JSONDecodeError as error:
                raise BadRequest(f"JSON Parse error: {error}") from None
            if ("instances" in body) == ("inputs" in body):
                raise BadRequest("Missing 'inputs' or 'instances' key")
            if "instances" in body:
                rows = body["instances"]
                if not isinstance(rows, list) or not rows:
                    raise BadRequest("instances: expected a non-empty list")
                named = all(isinstance(row, dict) for row in rows)
                inputs = {key: [row.get(key) for row in rows] for key in rows[0]} if named else {None: rows}
            else:
                inputs = body["inputs"]
            _, outputs = models.predict(name, version, body.get("signature_name", ""), inputs, check_dtypes=False)
            encoded = {key: _to_json(value) for key, value in outputs.items()}
            if "instances" in body:
                rows = [dict(zip(encoded, values)) for values in zip(*encoded.values())]
                return {"predictions": rows if len(encoded) > 1 else [row.popitem()[1] for row in rows]}
            return {"outputs": encoded if len(encoded) > 1 else next(iter(encoded.values()))}

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

    return Handler


@contextlib.contextmanager
def serve_rest(models: dict[str, str]):
    """A TF-Serving REST stand-in on 127.0.0.1; yields its ``http://127.0.0.1:PORT`` address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(StubModels(models)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models: StubModels):
        self.models = models

    def _call(self, context, work):
        try:
            return work()
        except NotFound as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except BadRequest as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def GetModelMetadata(self, request, context):
        version = request.model_spec.version.value if request.model_spec.HasField("version") else None
        return self._call(context, lambda: self.models.metadata(request.model_spec.name, version))

    def Predict(self, request, context):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None

        def work():
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            found, outputs = self.models.predict(spec.name, version, spec.signature_name, inputs, check_dtypes=True)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = spec.name
            response.model_spec.version.value = found
            response.model_spec.signature_name = spec.signature_name or "serving_default"
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        return self._call(context, work)


@contextlib.contextmanager
def serve_grpc(models: dict[str, str]):
    """A TF-Serving gRPC stand-in on 127.0.0.1; yields its ``127.0.0.1:PORT`` address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(StubModels(models)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
