"""A loopback stand-in for TensorFlow Serving that follows its source rule by rule.

The TF-Serving binary cannot be installed here, so this stand-in is the only server the client tests
meet. Each rule below names the file (and function) of the tensorflow/serving repository it mirrors,
read at commit ``TF_SERVING_COMMIT``; paths are under ``tensorflow_serving/``. Rules taken from
TensorFlow itself (not that repository) say so and are not verified against its source.

- :class:`ServerCore`: versions (integer folders, ``model_version_policy`` of ``serving/models.config``),
  servable lookup, metadata, status, ``Predict`` with input checks, server-side batching and timeouts.
- :func:`serve_rest`: the REST API (``model_servers/http_server.cc``, ``http_rest_api_handler.cc``,
  ``http_rest_api_util.cc``, ``util/json_tensor.cc``), optionally behind TLS as a proxy would put it.
- :func:`serve_grpc`: ``PredictionService.Predict`` / ``GetModelMetadata``
  (``model_servers/prediction_service_impl.cc``), optionally with TLS (``--ssl_config_file``).

Deliberate differences: new versions are seen at once (TF-Serving polls every
``--file_system_poll_wait_seconds``); model status lists the versions being served as AVAILABLE (the
real monitor also remembers unloaded ones as END); ``classify``/``regress`` are not served; no version
labels are configured (as in ``serving/models.config``). Test knobs that are not TF-Serving rules: ``delay_seconds`` (a slow model) and
``unavailable_answers`` (the first N calls answer UNAVAILABLE, as a full batch queue does).
:func:`make_run` writes a tiny untrained run folder to export.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format, text_format
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from jointvae_tf.core.config import LatentSpec, ModelConfig, RunConfig
from jointvae_tf.run_folders.folder import RunFolder, prepare_run
from jointvae_tf.training.trainer import build_model

TF_SERVING_COMMIT = "9d981c5c2708d23c5407c7c1e30309e6f9798874"
SERVING_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving")
Code = grpc.StatusCode


def make_run(directory: str, latent: LatentSpec = LatentSpec(3, (4,))) -> str:
    """A run folder (config.json and an untrained step-0 checkpoint) of a 32x32x1 model, to export."""
    run = RunConfig(model=ModelConfig(image_size=32, channels=1, latent=latent))
    prepare_run(run, directory, resume=False)
    RunFolder(directory).checkpointer(build_model(run)).save(0)
    return directory


class Status(Exception):
    """A non-OK ``absl::Status``: a gRPC status code and its message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# model_servers/http_server.cc, ToHTTPStatusCode.
HTTP_STATUS = {Code.CANCELLED: 499, Code.UNKNOWN: 500, Code.INVALID_ARGUMENT: 400, Code.DEADLINE_EXCEEDED: 504,
               Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.PERMISSION_DENIED: 403,
               Code.RESOURCE_EXHAUSTED: 429, Code.FAILED_PRECONDITION: 400, Code.ABORTED: 409,
               Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501, Code.INTERNAL: 500, Code.UNAVAILABLE: 503,
               Code.DATA_LOSS: 500, Code.UNAUTHENTICATED: 401}


# ---------------------------------------------------------------------------------------------------
# Configuration files of serving/


def version_policy(path: str = os.path.join(SERVING_DIR, "models.config")) -> dict[str, int | None]:
    """``{model name: num_versions of its latest policy, or None for all}`` from a ModelServerConfig file.

    config/file_system_storage_path_source.proto, ServableVersionPolicy: ``latest`` is the default policy,
    its ``num_versions`` 1 by default; ``all`` serves every version; ``specific`` is not used by this
    project and is refused here.
    """
    config = text_format.Parse(open(path).read(), model_server_config_pb2.ModelServerConfig())
    policies = {}
    for model in config.model_config_list.config:
        choice = model.model_version_policy.WhichOneof("policy_choice")
        if choice == "specific":
            raise ValueError(f"{path}: the stand-in does not mirror the `specific` version policy")
        policies[model.name] = None if choice == "all" else (model.model_version_policy.latest.num_versions or 1)
    return policies


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """batching parameters (servables/tensorflow/session_bundle_config.proto, BatchingParameters)."""

    max_batch_size: int
    batch_timeout_micros: int
    max_enqueued_batches: int
    num_batch_threads: int

    @classmethod
    def load(cls, path: str = os.path.join(SERVING_DIR, "batching_parameters.txt")) -> "BatchingParameters":
        """The ``{ value: N }`` fields of a BatchingParameters text proto (its proto is not in the pip package)."""
        text = open(path).read()
        value = {name: int(re.search(rf"^{name}\s*{{\s*value:\s*(\d+)\s*}}", text, re.M).group(1))
                 for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")}
        return cls(**value)


# ---------------------------------------------------------------------------------------------------
# Servables, metadata, status, Predict


def parse_version(name: str) -> int | None:
    """sources/storage_path/file_system_storage_path_source.cc, ParseVersionNumber: ``absl::SimpleAtoi``
    into int64 (surrounding whitespace and a sign allowed); None when the folder is not a version."""
    found = re.fullmatch(r"\s*([+-]?[0-9]+)\s*", name)
    return int(found.group(1)) if found and -2 ** 63 <= int(found.group(1)) < 2 ** 63 else None


@dataclasses.dataclass
class Bundle:
    """A loaded version: its MetaGraphDef (as TF-Serving reads it) and the loaded SavedModel to run."""

    version: int
    meta_graph: object
    loaded: object


_LOADED: dict[str, object] = {}


class ServerCore:
    """The model server's core: which versions are served and what each call answers.

    Args:
      models: ``{model name: base path}`` (``config.base_path``).
      num_versions: ``{model name: N}`` serves the N highest versions, None serves all; default:
        ``serving/models.config``.
      batching: server-side batching (``--enable_batching``); default: ``serving/batching_parameters.txt``;
        None disables it.
      rest_timeout_seconds: ``--rest_api_timeout_in_ms`` / 1000 (server.h, Options: 30000 ms).
      delay_seconds, unavailable_answers: test knobs (see the module docstring).
    """

    def __init__(self, models: dict[str, str], num_versions: dict[str, int | None] | None = None,
                 batching: BatchingParameters | None | str = "default", rest_timeout_seconds: float = 30.0,
                 delay_seconds: float = 0.0, unavailable_answers: int = 0):
        self.models = models
        self.num_versions = version_policy() if num_versions is None else num_versions
        self.rest_timeout_seconds = rest_timeout_seconds
        self.delay_seconds = delay_seconds
        self.unavailable_answers = unavailable_answers
        self._bundles: dict[tuple[str, int], Bundle] = {}
        self._lock = threading.Lock()
        batching = BatchingParameters.load() if batching == "default" else batching
        self.batcher = Batcher(batching, self._run) if batching else None

    def served_versions(self, name: str) -> list[int]:
        """sources/storage_path/file_system_storage_path_source.cc (AspireAllVersions / AspireLatestVersions):
        integer-named children of the base path, all of them or the ``num_versions`` highest."""
        base = self.models.get(name)
        if base is None or not os.path.isdir(base):
            return []
        versions = sorted(v for v in map(parse_version, os.listdir(base))
                          if v is not None and os.path.isdir(os.path.join(base, str(v))))
        keep = self.num_versions.get(name, 1)
        return versions if keep is None else versions[-keep:]

    def servable(self, name: str, version: int | None) -> Bundle:
        """model_servers/server_core.cc, ServableRequestFromModelSpec; core/basic_manager.cc,
        GetUntypedServableHandle; core/manager.h, ServableRequest::DebugString."""
        if not name:
            raise Status(Code.INVALID_ARGUMENT, "ModelSpec has no name specified.")
        versions = self.served_versions(name)
        chosen = versions[-1] if version is None and versions else version
        if chosen not in versions:
            request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise Status(Code.NOT_FOUND, f"Servable not found for request: {request}")
        with self._lock:
            if (name, chosen) not in self._bundles:
                path = os.path.join(self.models[name], str(chosen))
                saved_model = saved_model_pb2.SavedModel()
                with open(os.path.join(path, "saved_model.pb"), "rb") as f:
                    saved_model.ParseFromString(f.read())
                if path not in _LOADED:  # shared by the servers of one test session: versions never change
                    _LOADED[path] = tf.saved_model.load(path)
                self._bundles[name, chosen] = Bundle(chosen, saved_model.meta_graphs[0], _LOADED[path])
            return self._bundles[name, chosen]

    def admit(self) -> None:
        """Test knob, not a TF-Serving rule: UNAVAILABLE for the first ``unavailable_answers`` calls, with the
        message of a full batch queue (TensorFlow's shared batch scheduler; not verified)."""
        with self._lock:
            if self.unavailable_answers > 0:
                self.unavailable_answers -= 1
                raise Status(Code.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full")

    def metadata(self, name: str, version: int | None,
                 fields=("signature_def",)) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """servables/tensorflow/get_model_metadata_impl.cc: ValidateGetModelMetadataRequest, then every
        signature of the MetaGraphDef, ``__saved_model_init_op`` included, packed in an ``Any``."""
        if not fields:
            raise Status(Code.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field")
        for field in fields:
            if field != "signature_def":
                raise Status(Code.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
        bundle = self.servable(name, version)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, definition in bundle.meta_graph.signature_def.items():
            signature_map.signature_def[key].CopyFrom(definition)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = bundle.version
        response.metadata["signature_def"].Pack(signature_map)
        return response

    def status(self, name: str, version: int | None) -> get_model_status_pb2.GetModelStatusResponse:
        """model_servers/get_model_status_impl.cc, GetModelStatusWithModelSpec."""
        versions = self.served_versions(name)
        if version is not None and version not in versions:
            raise Status(Code.NOT_FOUND, f"Could not find version {version} of model {name}")
        if not versions:
            raise Status(Code.NOT_FOUND, f"Could not find any versions of model {name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for served in ([version] if version is not None else versions):
            status = response.model_version_status.add(version=served)
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.SetInParent()  # ToStatusProto(OK): error_code OK, error_message ""
        return response

    def signature(self, bundle: Bundle, signature_name: str):
        """servables/tensorflow/predict_util.cc, RunPredict: an empty name is ``serving_default``; an
        unknown one is FAILED_PRECONDITION."""
        key = signature_name or "serving_default"
        if key not in bundle.meta_graph.signature_def:
            raise Status(Code.FAILED_PRECONDITION, f'Serving signature key "{key}" not found.')
        return key, bundle.meta_graph.signature_def[key]

    def predict(self, request: predict_pb2.PredictRequest, timeout: float | None = None) -> predict_pb2.PredictResponse:
        """servables/tensorflow/predict_impl.cc (Predict) and predict_util.cc (RunPredict,
        PreProcessPrediction, PostProcessPredictionResult)."""
        bundle = self.servable(request.model_spec.name,
                               request.model_spec.version.value if request.model_spec.HasField("version") else None)
        key, signature = self.signature(bundle, request.model_spec.signature_name)
        sent, wanted = set(request.inputs), set(signature.inputs)
        # predict_util.cc, VerifyRequestInputsSize (a SignatureDef written by Keras has no defaults).
        if len(sent) != len(wanted):
            raise Status(Code.INVALID_ARGUMENT, (
                f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sorted(sent))}}}) "
                f"!= len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."))
        # tensorflow/cc/saved_model/util.cc, GetInputValues (TensorFlow; message not verified).
        missing = sorted(wanted - sent)
        if missing:
            raise Status(Code.INVALID_ARGUMENT, f"Missing input: {missing[0]}")
        inputs = {alias: tf.make_ndarray(request.inputs[alias]) for alias in sorted(wanted)}
        if self.batcher:
            outputs = self.batcher.run(key, inputs, bundle, timeout)
        else:
            outputs = _within(timeout, self._run, key, inputs, bundle)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = bundle.version
        response.model_spec.signature_name = key
        for alias in signature.outputs:  # all outputs when output_filter is empty
            response.outputs[alias].CopyFrom(as_proto_field(outputs[alias]))
        return response

    def _run(self, key: str, inputs: dict[str, np.ndarray], bundle: Bundle) -> dict[str, np.ndarray]:
        """``Session::Run`` of one signature. A fed dtype must equal the placeholder's (TensorFlow's
        executor, "Expects arg[i] to be T but U is provided"; message not verified); an op failing
        (e.g. a shape mismatch) is INVALID_ARGUMENT."""
        time.sleep(self.delay_seconds)
        function = bundle.loaded.signatures[key]
        specs = function.structured_input_signature[1]
        for index, (alias, spec) in enumerate(sorted(specs.items())):
            if inputs[alias].dtype != spec.dtype.as_numpy_dtype:
                sent = tf.as_dtype(inputs[alias].dtype).name
                raise Status(Code.INVALID_ARGUMENT, f"Expects arg[{index}] to be {spec.dtype.name} but {sent} is provided")
        try:
            outputs = function(**{alias: tf.constant(value) for alias, value in inputs.items()})
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as error:
            raise Status(Code.INVALID_ARGUMENT, " ".join(str(getattr(error, "message", error)).split())) from None
        return {alias: value.numpy() for alias, value in outputs.items()}


def _within(timeout: float | None, function, *args):
    """``function(*args)``, or DEADLINE_EXCEEDED after ``timeout`` seconds (RunOptions.timeout_in_ms: the
    REST handler's --rest_api_timeout_in_ms, or a gRPC call's deadline; message not verified)."""
    pool = futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(function, *args).result(timeout)
    except futures.TimeoutError:
        raise Status(Code.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
    finally:
        pool.shutdown(wait=False)


def as_proto_field(value: np.ndarray) -> tensor_pb2.TensorProto:
    """``Tensor::AsProtoField`` (TensorFlow): values in the typed repeated field, not ``tensor_content``
    (predict_util.cc, PostProcessPredictionResult with the default kAsProtoField)."""
    proto = tf.make_tensor_proto(value)
    field = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT32: "int_val",
             types_pb2.DT_UINT8: "int_val", types_pb2.DT_INT64: "int64_val", types_pb2.DT_BOOL: "bool_val",
             types_pb2.DT_STRING: "string_val"}[proto.dtype]
    if proto.tensor_content:
        proto.ClearField("tensor_content")
        getattr(proto, field).extend(np.ravel(value).tolist())
    return proto


class Batcher:
    """batching/batching_session.cc with the shared batch scheduler (TensorFlow): concurrent runs of one
    signature are merged into one run of at most ``max_batch_size`` rows.

    - batching_util.h, ComputeTensorBatchSize: every input has a 0th dimension of one size.
    - a task larger than ``max_batch_size`` is INVALID_ARGUMENT (the scheduler's message, quoted by
      batching_session_test.cc); more than ``max_enqueued_batches`` waiting is UNAVAILABLE.
    - MergeInputTensors: tasks' inputs must agree beyond dimension 0 (pad_variable_length_inputs false).
    - a batch runs when it is full or ``batch_timeout_micros`` after its first task, whichever comes first.
    - ProcessBatch: a failed run fails every task of the batch with the same status.
    - SplitOutputTensors: outputs are split back by task sizes.
    ``batch_sizes`` records the size of every run, so tests can see merges.
    """

    def __init__(self, parameters: BatchingParameters, run):
        self.parameters = parameters
        self._run = run
        self._lock = threading.Lock()
        self._open: dict[tuple, dict] = {}
        self._waiting = 0
        self._pool = futures.ThreadPoolExecutor(parameters.num_batch_threads)
        self.batch_sizes: list[int] = []

    def run(self, key: str, inputs: dict[str, np.ndarray], bundle: Bundle, timeout: float | None) -> dict[str, np.ndarray]:
        if any(value.ndim == 0 for value in inputs.values()):
            raise Status(Code.INVALID_ARGUMENT, "Batching Run() input tensors must have at least one dimension")
        if len({value.shape[0] for value in inputs.values()}) > 1:
            raise Status(Code.INVALID_ARGUMENT, "Batching Run() input tensors must have equal 0th-dimension size")
        size = next(iter(inputs.values())).shape[0]
        if size > self.parameters.max_batch_size:
            raise Status(Code.INVALID_ARGUMENT, f"Task size {size} is larger than maximum input batch size "
                                                f"{self.parameters.max_batch_size}")
        task = {"inputs": inputs, "size": size, "done": threading.Event()}
        signature = (id(bundle), key, tuple(sorted(inputs)))
        with self._lock:
            batch = self._open.get(signature)
            if batch is None or batch["size"] + size > self.parameters.max_batch_size:
                if self._waiting >= self.parameters.max_enqueued_batches:
                    raise Status(Code.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full")
                timer = threading.Timer(self.parameters.batch_timeout_micros / 1e6, self._close)
                batch = self._open[signature] = {"tasks": [], "size": 0, "timer": timer}
                timer.args, timer.daemon = (signature, batch, key, bundle), True
                self._waiting += 1
                timer.start()
            batch["tasks"].append(task)
            batch["size"] += size
            full = batch["size"] == self.parameters.max_batch_size
        if full:  # shared_batch_scheduler.h: a full batch is scheduled at once, not at its timeout
            self._close(signature, batch, key, bundle)
        if not task["done"].wait(timeout):
            raise Status(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")  # message not verified
        if "status" in task:
            raise task["status"]
        return task["outputs"]

    def _close(self, signature, batch, key, bundle) -> None:
        """Schedule ``batch`` once: when it is full or at its timeout, whichever comes first."""
        with self._lock:
            if self._open.get(signature) is not batch:
                return
            del self._open[signature]
        batch["timer"].cancel()
        self._pool.submit(self._process, batch, key, bundle)

    def _process(self, batch, key, bundle) -> None:
        with self._lock:
            self._waiting -= 1
        tasks = batch["tasks"]
        try:
            names = tasks[0]["inputs"].keys()
            for name in names:
                if len({task["inputs"][name].shape[1:] for task in tasks}) > 1:
                    raise Status(Code.FAILED_PRECONDITION, (
                        f"Tensors with name '{name}' from different tasks have different shapes and padding is "
                        "turned off. Set pad_variable_length_inputs to true, or ensure that all tensors with the "
                        "same name have equal dimensions starting with the first dim."))
            merged = {name: np.concatenate([task["inputs"][name] for task in tasks]) for name in names}
            self.batch_sizes.append(batch["size"])
            outputs = self._run(key, merged, bundle)
            bounds = np.cumsum([0] + [task["size"] for task in tasks])
            for value in outputs.values():
                if value.ndim == 0:
                    raise Status(Code.FAILED_PRECONDITION, "Batched output tensor has 0 dimensions")
                if value.shape[0] != bounds[-1]:
                    raise Status(Code.FAILED_PRECONDITION, "Batched output tensor's 0th dimension does not equal "
                                                           "the sum of the 0th dimension sizes of the input tensors")
            for task, start, end in zip(tasks, bounds[:-1], bounds[1:]):
                task["outputs"] = {alias: value[start:end] for alias, value in outputs.items()}
        except Status as status:
            for task in tasks:
                task["status"] = status
        for task in tasks:
            task["done"].set()


# ---------------------------------------------------------------------------------------------------
# REST: JSON <-> TensorProto (util/json_tensor.cc)

BYTES_SUFFIX = "_bytes"  # json_tensor.cc, kBytesTensorNameSuffix
_INT_RANGES = {types_pb2.DT_INT32: 32, types_pb2.DT_INT16: 16, types_pb2.DT_INT8: 8, types_pb2.DT_UINT8: 8}


def parse_json(body: bytes) -> dict:
    """json_tensor.cc, ParseJson: an empty body, a parse error or a top level that is not an object is
    INVALID_ARGUMENT; NaN/Infinity are accepted (kParseNanAndInfFlag) and anything after the document is
    ignored (kParseStopWhenDoneFlag). Bytes are not checked as UTF-8 (no kParseValidateEncodingFlag). Of
    repeated keys the first counts (rapidjson FindMember)."""
    if not body:
        raise Status(Code.INVALID_ARGUMENT, "JSON Parse error: The document is empty")
    text = body.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder(object_pairs_hook=_first_of_repeated_keys)
    start = len(text) - len(text.lstrip())
    try:
        document, _ = decoder.raw_decode(text, start)
    except json.JSONDecodeError as error:
        raise Status(Code.INVALID_ARGUMENT, f"JSON Parse error: {error.msg} at offset: {error.pos}") from None
    if not isinstance(document, dict):
        raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(document)} Is not object")
    return document


def _first_of_repeated_keys(pairs: list) -> dict:
    found = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


def _debug(value) -> str:
    """json_tensor.cc, JsonValueToDebugString: at most 256 bytes."""
    return json.dumps(value)[:256]


def _json_type(value) -> str:
    """json_tensor.cc, JsonTypeString."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _is_b64(value) -> bool:
    """json_tensor.cc, IsValBase64Object: an object with exactly one key, ``b64``, holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _add_value(value, dtype: int, values: list) -> None:
    """json_tensor.cc, AddValueToTensor: floats take any JSON number; integer types take only JSON
    integers in their range (rapidjson IsInt / IsInt64), so ``1.0`` is not an int32; strings take strings."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        ok = number
    elif dtype in _INT_RANGES:
        ok = number and isinstance(value, int) and -2 ** 31 <= value < 2 ** 31
    elif dtype == types_pb2.DT_INT64:
        ok = number and isinstance(value, int) and -2 ** 63 <= value < 2 ** 63
    elif dtype == types_pb2.DT_BOOL:
        ok = isinstance(value, bool)
    elif dtype == types_pb2.DT_STRING:
        ok = isinstance(value, str)
        value = value.encode("utf-8", errors="surrogateescape") if ok else value
    else:
        raise Status(Code.UNIMPLEMENTED, f"Conversion of JSON Value: {_debug(value)} to type: {types_pb2.DataType.Name(dtype)}")
    if not ok:
        raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(value)} Type: {_json_type(value)} is not of "
                                            f"expected type: {tf.as_dtype(dtype).name}")
    values.append(value)


def _dense_shape(value) -> list[int]:
    """json_tensor.cc, GetDenseTensorShape: the sizes of the first elements, level by level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype: int, values: list) -> None:
    """json_tensor.cc, FillTensorProto: leaves exactly at depth ``rank``, every list of its level's size;
    a ``{"b64": ...}`` leaf only for DT_STRING."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(value)} found at incorrect level: {level + 1} "
                                                f"in the JSON DOM. Expected at level: {rank}")
        if isinstance(value, dict):
            if dtype != types_pb2.DT_STRING:
                raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(value)} Type: Object is not of expected "
                                                    f"type: {tf.as_dtype(dtype).name}")
            if not _is_b64(value):
                raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(value)} not formatted correctly for base64 data")
            try:
                values.append(base64.b64decode(value["b64"], validate=True))
            except ValueError:
                raise Status(Code.INVALID_ARGUMENT, "Unable to base64 decode") from None
            return
        _add_value(value, dtype, values)
        return
    if level >= rank:
        raise Status(Code.INVALID_ARGUMENT, f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise Status(Code.INVALID_ARGUMENT, f"Encountered list at unexpected size: {len(value)} at level: {level} "
                                            f"expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, values)


def json_to_tensor(value, dtype: int) -> tensor_pb2.TensorProto:
    """A TensorProto of ``dtype`` from one JSON value (json_tensor.cc, GetDenseTensorShape + FillTensorProto)."""
    shape, values = _dense_shape(value), []
    _fill(value, 0, shape, dtype, values)
    return _tensor_proto(dtype, shape, values)


def _tensor_proto(dtype: int, shape: list[int], values: list) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]))
    field = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT64: "int64_val",
             types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val"}.get(dtype, "int_val")
    getattr(proto, field).extend(values)
    return proto


def fill_predict_request(body: bytes, tensor_infos) -> tuple[predict_pb2.PredictRequest, str]:
    """json_tensor.cc, FillPredictRequestFromJson: ``(request, "row" | "columnar")``.

    ``tensor_infos(signature_name)`` returns the signature's input TensorInfo map (http_rest_api_handler.cc,
    GetInfoMap), so the servable and the signature are looked up after the JSON is parsed.
    """
    document = parse_json(body)
    request = predict_pb2.PredictRequest()
    if "signature_name" in document:  # FillSignature
        if not isinstance(document["signature_name"], str):
            raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(document)} not formatted correctly. "
                                                "'signature_name' key must be a string value.")
        request.model_spec.signature_name = document["signature_name"]
    infos = tensor_infos(request.model_spec.signature_name)
    if not infos:
        raise Status(Code.INVALID_ARGUMENT, "Failed to get input map for signature: "
                                            f"{request.model_spec.signature_name or 'DEFAULT'}")
    both = ("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
    if "instances" in document:
        if "inputs" in document:
            raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(document)} {both}")
        if not isinstance(document["instances"], list):
            raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(document)} Expecting 'instances' to be an list/array")
        if not document["instances"]:
            raise Status(Code.INVALID_ARGUMENT, f"JSON Value: {_debug(document)} No values in 'instances' array")
        _fill_from_instances(document["instances"], infos, request)
        return request, "row"
    if "inputs" in document:
        _fill_from_inputs(document["inputs"], infos, request)
        return request, "columnar"
    raise Status(Code.INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key")


def _fill_from_instances(rows: list, infos, request: predict_pb2.PredictRequest) -> None:
    """json_tensor.cc, FillTensorMapFromInstancesList (with AddInstanceItem): a list of objects, one key
    per input, or a plain list when there is one input; every row of one input has the same shape."""
    is_object = lambda value: isinstance(value, dict) and not _is_b64(value)  # noqa: E731
    if not isinstance(rows[0], dict) and len(infos) > 1:
        raise Status(Code.INVALID_ARGUMENT, "instances is a plain list, but expecting list of objects as multiple "
                                            "input tensors required as per tensorinfo_map")
    objects = is_object(rows[0])
    shapes, values = {}, {}
    for index, row in enumerate(rows):
        if objects != is_object(row):
            raise Status(Code.INVALID_ARGUMENT, f"Expecting object but got list at item {index} of input list" if objects
                         else f"Expecting value/list but got object at item {index} of input list")
        items = row.items() if objects else [(next(iter(infos)), row)]
        for name, item in items:
            try:
                if name not in infos:
                    raise Status(Code.INVALID_ARGUMENT, f"JSON object: does not have named input: {name}")
                shape, row_values = _dense_shape(item), []
                _fill(item, 0, shape, infos[name].dtype, row_values)
                if name in shapes and math.prod(shapes[name]) != len(row_values):
                    raise Status(Code.INVALID_ARGUMENT, f"Expecting tensor size: {math.prod(shapes[name])} but got: "
                                                        f"{len(row_values)}")
                if name in shapes and shapes[name] != shape:
                    raise Status(Code.INVALID_ARGUMENT, f"Expecting shape [{','.join(map(str, shapes[name]))}] but "
                                                        f"got: [{','.join(map(str, shape))}]")
            except Status as status:
                key = f" key: {name}" if objects else ""
                raise Status(Code.INVALID_ARGUMENT, f"Failed to process element: {index}{key} of 'instances' list. "
                                                    f"Error: {status.code.name}: {status.message}") from None
            shapes.setdefault(name, shape)
            values.setdefault(name, []).extend(row_values)
        if objects and set(row) != set(infos):
            raise Status(Code.INVALID_ARGUMENT, f"Failed to process element: {index} of 'instances' list. JSON object: "
                                                f"{_debug(row)} keys must be equal to: {','.join(sorted(infos))}")
    for name, shape in shapes.items():
        request.inputs[name].CopyFrom(_tensor_proto(infos[name].dtype, [len(rows)] + shape, values[name]))


def _fill_from_inputs(value, infos, request: predict_pb2.PredictRequest) -> None:
    """json_tensor.cc, FillTensorMapFromInputsMap: an object with (at least) every input's key -- other
    keys are ignored -- or a plain value when there is one input."""
    if not isinstance(value, dict) or _is_b64(value):
        if len(infos) > 1:
            raise Status(Code.INVALID_ARGUMENT, "inputs is a plain value/list, but expecting an object as multiple "
                                                "input tensors required as per tensorinfo_map")
        name = next(iter(infos))
        request.inputs[name].CopyFrom(json_to_tensor(value, infos[name].dtype))
        return
    for name, info in infos.items():
        if name not in value:
            raise Status(Code.INVALID_ARGUMENT, f"Missing named input: {name} in 'inputs' object.")
        request.inputs[name].CopyFrom(json_to_tensor(value[name], info.dtype))


_ESCAPES = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}


def json_string(data: bytes) -> bytes:
    """rapidjson ``Writer::String`` without kWriteValidateEncodingFlag: control bytes, ``"`` and ``\\``
    escaped, every other byte copied as is -- so bytes that are not UTF-8 stay invalid in the JSON."""
    return b'"' + b"".join(_ESCAPES.get(byte, b"\\u%04X" % byte if byte < 0x20 else bytes([byte])) for byte in data) + b'"'


def json_decimal(value: float, dtype: int) -> bytes:
    """json_tensor.cc, WriteDecimal: ``absl::StrCat`` (6 significant digits) when it reads back as the
    same value, else max_digits10 (9 for float, 17 for double); ``.0`` added to whole numbers; NaN,
    Infinity, -Infinity."""
    if math.isnan(value):
        return b"NaN"
    if math.isinf(value):
        return b"-Infinity" if value < 0 else b"Infinity"
    cast = np.float32 if dtype == types_pb2.DT_FLOAT else np.float64
    text = "%g" % value
    if cast(text) != cast(value):
        text = "%.*g" % (9 if dtype == types_pb2.DT_FLOAT else 17, value)
    if "." not in text and "e" not in text:
        text += ".0"
    return text.encode()


def _json_values(proto: tensor_pb2.TensorProto, as_bytes: bool) -> list:
    """The values of an AsProtoField tensor as JSON fragments (json_tensor.cc, AddSingleValueAndAdvance)."""
    if proto.dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        field = proto.float_val if proto.dtype == types_pb2.DT_FLOAT else proto.double_val
        return [json_decimal(value, proto.dtype) for value in field]
    if proto.dtype == types_pb2.DT_STRING:
        if as_bytes:
            return [b'{"b64": ' + json_string(base64.b64encode(value)) + b"}" for value in proto.string_val]
        return [json_string(value) for value in proto.string_val]
    if proto.dtype == types_pb2.DT_BOOL:
        return [b"true" if value else b"false" for value in proto.bool_val]
    field = proto.int64_val if proto.dtype == types_pb2.DT_INT64 else proto.int_val
    return [str(value).encode() for value in field]


def _nest(values: list, shape: list[int]) -> bytes:
    """json_tensor.cc, AddTensorValues: nested arrays of ``shape`` (a scalar is written bare)."""
    if not shape:
        return values[0]
    step = math.prod(shape[1:])
    return b"[" + b", ".join(_nest(values[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])) + b"]"


def make_json_from_tensors(outputs, format: str) -> bytes:
    """json_tensor.cc, MakeJsonFromTensors: row format ``{"predictions": [...]}`` (one object per batch
    row, or the bare values when there is one output), columnar ``{"outputs": {...}}`` (or the bare
    tensor). A DT_STRING output is ``{"b64": ...}`` only when its alias ends in ``_bytes``
    (IsNamedTensorBytes); any other string is its raw bytes inside a JSON string."""
    if not outputs:
        raise Status(Code.INVALID_ARGUMENT, "Cannot convert empty tensor map to JSON")
    tensors = {name: (_json_values(proto, proto.dtype == types_pb2.DT_STRING and name.endswith(BYTES_SUFFIX)),
                      [dim.size for dim in proto.tensor_shape.dim]) for name, proto in outputs.items()}
    named = len(tensors) > 1
    if format == "columnar":
        parts = {name: _nest(values, shape) for name, (values, shape) in tensors.items()}
        body = (b"{" + b", ".join(json_string(name.encode()) + b": " + part for name, part in parts.items()) + b"}"
                if named else next(iter(parts.values())))
        return b'{"outputs": ' + body + b"}"
    batch = None
    for name, (_, shape) in tensors.items():  # MakeRowFormatJsonFromTensors
        if not shape:
            raise Status(Code.INVALID_ARGUMENT, f"Tensor name: {name} has no shape information ")
        if batch is not None and shape[0] != batch:
            raise Status(Code.INVALID_ARGUMENT, f"Tensor name: {name} has inconsistent batch size: {shape[0]} "
                                                f"expecting: {batch}")
        batch = shape[0]
    rows = []
    for row in range(batch):
        cells = {}
        for name, (values, shape) in tensors.items():
            step = math.prod(shape[1:])
            cells[name] = _nest(values[row * step:(row + 1) * step], shape[1:])
        rows.append(b"{" + b", ".join(json_string(k.encode()) + b": " + v for k, v in cells.items()) + b"}"
                    if named else next(iter(cells.values())))
    return b'{"predictions": [' + b", ".join(rows) + b"]}"


def status_json(status: Status) -> bytes:
    """json_tensor.cc, MakeJsonFromStatus: ``{"error": message}``."""
    return b'{"error": ' + json_string(status.message.encode()) + b"}"


# ---------------------------------------------------------------------------------------------------
# REST: routing (model_servers/http_server.cc, http_rest_api_handler.cc, http_rest_api_util.cc)

_HANDLED = re.compile(r"(?i)/v1/.*")  # http_rest_api_util.h, kHTTPRestApiHandlerPathRegex
_PREDICT = re.compile(r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?")
_PRINT = {"always_print_fields_with_no_presence": True}  # http_rest_api_util.cc, ToJsonString


def process_request(core: ServerCore, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """``(HTTP status, body)`` of one REST call: http_server.cc (RestApiRequestDispatcher::ProcessRequest,
    ToHTTPStatusCode) and http_rest_api_handler.cc (ProcessRequest)."""
    path = path.split("?", 1)[0]
    if not _HANDLED.fullmatch(path):
        return 404, b""  # the dispatcher declines; net_http answers 404 (not verified)
    try:
        core.admit()
        return 200, _dispatch(core, method, path, body)
    except Status as status:
        return HTTP_STATUS.get(status.code, 500), status_json(status)


def _dispatch(core: ServerCore, method: str, path: str, body: bytes) -> bytes:
    """http_rest_api_handler.cc, ProcessRequest; http_rest_api_util.cc, ParseModelInfo: a path that does
    not match the method's pattern is INVALID_ARGUMENT "Malformed request" (HTTP 400)."""
    malformed = Status(Code.INVALID_ARGUMENT, f"Malformed request: {method} {path}")
    found = (_PREDICT if method == "POST" else _STATUS).fullmatch(path) if method in ("POST", "GET") else None
    if not found:
        raise malformed
    name, version, label, action = found.groups()
    name = urllib.parse.unquote(name or "")
    if version is not None:
        if int(version) >= 2 ** 63:
            raise Status(Code.INVALID_ARGUMENT, f"Failed to convert version: {version} to numeric.")
        version = int(version)
    if label is not None:  # server_core.cc, GetModelVersionForLabel: models.config defines no labels
        raise Status(Code.INVALID_ARGUMENT, f"Unrecognized servable version label: {urllib.parse.unquote(label)}")
    if method == "POST":
        if action.lower() != "predict":
            raise Status(Code.UNIMPLEMENTED, f"the stand-in does not serve {action}")
        return _predict(core, name, version, body)
    if not name:
        raise Status(Code.INVALID_ARGUMENT, "Missing model name in request.")
    if action:
        return _metadata_json(core.metadata(name, version))
    return json_format.MessageToJson(core.status(name, version), **_PRINT).encode()


def _predict(core: ServerCore, name: str, version: int | None, body: bytes) -> bytes:
    """http_rest_api_handler.cc, ProcessPredictRequest (with GetInfoMap: servable lookup, then an unknown
    signature is INVALID_ARGUMENT "Serving signature name ... not found in signature def")."""

    def tensor_infos(signature_name: str):
        definitions = core.servable(name, version).meta_graph.signature_def
        key = signature_name or "serving_default"
        if key not in definitions:
            raise Status(Code.INVALID_ARGUMENT, f'Serving signature name: "{key}" not found in signature def')
        return definitions[key].inputs

    request, format = fill_predict_request(body, tensor_infos)
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    response = core.predict(request, timeout=core.rest_timeout_seconds)
    return make_json_from_tensors(response.outputs, format)


def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> bytes:
    """http_rest_api_util.cc, ToJsonString(GetModelMetadataResponse): model_spec and the unpacked
    SignatureDefMap, proto field names, fields with default values printed (size-0 dims keep ``size``)."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    model_spec = json_format.MessageToJson(response.model_spec, preserving_proto_field_name=True, **_PRINT)
    signatures = json_format.MessageToJson(signature_map, preserving_proto_field_name=True, **_PRINT)
    return f'{{\n"model_spec":{model_spec},\n"metadata": {{"signature_def": {signatures}}}\n}}\n'.encode()


def _handler(core: ServerCore):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _serve(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, answer = process_request(core, self.command, self.path, body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")  # http_rest_api_util.cc, AddHeaders
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@contextlib.contextmanager
def serve_rest(core: ServerCore, tls: tuple[str, str] | None = None):
    """The REST API on 127.0.0.1 (a free port the server picks); yields ``http://127.0.0.1:PORT``.

    ``tls``: ``(certificate, key)`` PEM files: answer ``https://`` as a TLS proxy in front of TF-Serving
    would (TF-Serving's own REST port has no TLS)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(core))
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------------
# gRPC (model_servers/prediction_service_impl.cc)


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionServiceImpl: each call's absl::Status becomes the gRPC status (grpc_status_util.cc)."""

    def __init__(self, core: ServerCore):
        self.core = core

    def _answer(self, context, work):
        try:
            self.core.admit()
            return work()
        except Status as status:
            context.abort(status.code, status.message)

    def GetModelMetadata(self, request, context):
        """get_model_metadata_impl.cc, GetModelMetadata: "Missing ModelSpec" without one."""

        def work():
            if not request.HasField("model_spec"):
                raise Status(Code.INVALID_ARGUMENT, "Missing ModelSpec")
            spec = request.model_spec
            return self.core.metadata(spec.name, spec.version.value if spec.HasField("version") else None,
                                      list(request.metadata_field))

        return self._answer(context, work)

    def Predict(self, request, context):
        """predict_impl.cc, Predict: "Missing ModelSpec" without one; the run's timeout is the call's
        deadline (enforce_session_run_timeout)."""

        def work():
            if not request.HasField("model_spec"):
                raise Status(Code.INVALID_ARGUMENT, "Missing ModelSpec")
            return self.core.predict(request, timeout=context.time_remaining())

        return self._answer(context, work)


@contextlib.contextmanager
def serve_grpc(core: ServerCore, tls: tuple[str, str] | None = None):
    """``PredictionService`` on 127.0.0.1 (a port the server picks); yields ``127.0.0.1:PORT``.
    ``tls``: ``(certificate, key)`` PEM files, as TF-Serving's ``--ssl_config_file`` (server.cc,
    BuildServerCredentials: no client certificate requested)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(core), server)
    if tls:
        certificate, key = (open(path, "rb").read() for path in tls)
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, certificate)]))
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """``(certificate, key)`` PEM files for 127.0.0.1 and localhost, written with the openssl command."""
    certificate, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", certificate],
                   check=True, capture_output=True)
    return certificate, key
