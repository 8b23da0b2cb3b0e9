"""Conformance of the TF-Serving stand-in (tests/serving_stubs.py) with the rules of TF-Serving's source.

Each row of the tables is one rule, with the file of tensorflow/serving it comes from. The client tests
(test_client.py) are only as good as the stand-in, so the stand-in itself is checked here.
"""

import base64
import concurrent.futures
import json
import os

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_stubs import (
    BatchingParameters,
    ServerCore,
    json_decimal,
    json_string,
    make_run,
    process_request,
    serve_grpc,
    version_policy,
)
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.serving import export

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def _strings_model(path):
    """A SavedModel whose outputs are the same binary string as ``blob_bytes`` and as ``blob``, and whose
    ``checked`` signature raises (an in-graph Assert) on a negative input."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def strings(x):
        blob = tf.fill(tf.shape(x), PNG_HEAD + b'"\\\x01')
        return {"blob_bytes": blob, "blob": blob, "y": 2 * x}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def checked(x):
        with tf.control_dependencies([tf.debugging.assert_non_negative(x, message="x: expected >= 0")]):
            return {"y": tf.identity(x)}

    module.strings, module.checked = strings, checked
    tf.saved_model.save(module, path, signatures={"serving_default": strings, "checked": checked})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    run = make_run(str(root / "run"))
    export.export_run(run, out=str(root / "sm"), version=1)
    export.export_run(run, out=str(root / "sm"), version=2)
    export.export_run(make_run(str(root / "run-nodisc"), LatentSpec(2, ())), out=str(root / "sm"), name="nodisc")
    _strings_model(str(root / "sm" / "strings" / "1"))
    return {name: str(root / "sm" / name) for name in ("jointvae", "nodisc", "strings")}


@pytest.fixture(scope="module")
def core(models):
    return ServerCore(models)


def call(core, method, path, body=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    code, answer = process_request(core, method, path, data or b"")
    return code, answer


SAMPLE = {"signature_name": "sample", "inputs": {"seed": [1, 2], "category": [[0], [1]]}}
DECODE_ROW = {"z": [0.0, 0.0, 0.0], "c": [1.0, 0.0, 0.0, 0.0]}

# (rule, source, method, path, body, HTTP status, text the answer holds)
REST_RULES = [
    ("a path outside /v1/ is not handled", "http_server.cc Dispatch", "GET", "/v2/models/jointvae", None, 404, ""),
    ("a malformed path is 400", "http_rest_api_util.cc ParseModelInfo", "GET", "/v1/models/jointvae/versions/x",
     None, 400, "Malformed request: GET /v1/models/jointvae/versions/x"),
    ("metadata is GET only", "http_rest_api_handler.cc ProcessRequest", "POST", "/v1/models/jointvae/metadata",
     SAMPLE, 400, "Malformed request: POST"),
    ("predict is POST only", "http_rest_api_util.cc kModelStatusApiRegex", "GET", "/v1/models/jointvae:predict",
     None, 400, "Malformed request"),
    ("paths are case-insensitive", "http_rest_api_util.cc (?i)", "GET", "/V1/MODELS/jointvae", None, 200,
     '"version": "2"'),
    ("no version labels are configured", "server_core.cc GetModelVersionForLabel", "GET",
     "/v1/models/jointvae/labels/stable", None, 400, "Unrecognized servable version label: stable"),
    ("no model name", "http_rest_api_handler.cc ProcessModelStatusRequest", "GET", "/v1/models", None, 400,
     "Missing model name in request."),
    ("unknown model", "basic_manager.cc GetUntypedServableHandle", "POST", "/v1/models/nope:predict", SAMPLE, 404,
     "Servable not found for request: Latest(nope)"),
    ("the JSON is parsed before the servable is looked up", "json_tensor.cc FillPredictRequestFromJson",
     "POST", "/v1/models/nope:predict", b"{", 400, "JSON Parse error"),
    ("an empty body", "json_tensor.cc ParseJson", "POST", "/v1/models/jointvae:predict", b"", 400,
     "JSON Parse error: The document is empty"),
    ("the top level is an object", "json_tensor.cc ParseJson", "POST", "/v1/models/jointvae:predict", [1], 400,
     "Is not object"),
    ("text after the document is ignored", "json_tensor.cc ParseJson kParseStopWhenDoneFlag", "POST",
     "/v1/models/jointvae:predict", json.dumps({"instances": [DECODE_ROW]}).encode() + b" trailing", 200,
     '"predictions"'),
    ("unknown signature over REST is 400", "http_rest_api_handler.cc GetInfoMap", "POST",
     "/v1/models/jointvae:predict", {"signature_name": "nope", "inputs": {}}, 400,
     'Serving signature name: \\"nope\\" not found in signature def'),
    ("inputs or instances", "json_tensor.cc FillPredictRequestFromJson", "POST", "/v1/models/jointvae:predict",
     {"signature_name": "sample"}, 400, "Missing 'inputs' or 'instances' key"),
    ("not both", "json_tensor.cc FillPredictRequestFromJson", "POST", "/v1/models/jointvae:predict",
     {"inputs": {}, "instances": []}, 400, "expecting only one of 'inputs' or 'instances' keys to exist"),
    ("instances is not empty", "json_tensor.cc FillPredictRequestFromJson", "POST", "/v1/models/jointvae:predict",
     {"instances": []}, 400, "No values in 'instances' array"),
    ("extra keys in a columnar inputs object are ignored", "json_tensor.cc FillTensorMapFromInputsMap", "POST",
     "/v1/models/jointvae:predict", {**SAMPLE, "inputs": {**SAMPLE["inputs"], "extra": [1]}}, 200, '"png_bytes"'),
    ("a missing columnar input", "json_tensor.cc FillTensorMapFromInputsMap", "POST", "/v1/models/jointvae:predict",
     {"signature_name": "sample", "inputs": {"seed": [1]}}, 400, "Missing named input: category in 'inputs' object."),
    ("a JSON float is not an integer", "json_tensor.cc AddValueToTensor", "POST", "/v1/models/jointvae:predict",
     {"signature_name": "sample", "inputs": {"seed": [1.0], "category": [[0]]}}, 400,
     "JSON Value: 1.0 Type: Number is not of expected type: int64"),
    ("an int32 takes JSON integers within its range", "json_tensor.cc AddValueToTensor", "POST",
     "/v1/models/jointvae:predict", {"signature_name": "sample", "inputs": {"seed": [1], "category": [[2 ** 31]]}},
     400, "is not of expected type: int32"),
    ("a JSON integer is a float", "json_tensor.cc AddValueToTensor", "POST", "/v1/models/jointvae:predict",
     {"inputs": {"z": [[0, 0, 0]], "c": [[1, 0, 0, 0]]}}, 200, '"outputs"'),
    ("ragged lists", "json_tensor.cc FillTensorProto", "POST", "/v1/models/jointvae:predict",
     {"inputs": {"z": [[0, 0, 0], [0, 0]], "c": [[1, 0, 0, 0], [1, 0, 0, 0]]}}, 400,
     "Encountered list at unexpected size: 2 at level: 1 expected size: 3"),
    ("row keys equal the inputs", "json_tensor.cc FillTensorMapFromInstancesList", "POST",
     "/v1/models/jointvae:predict", {"instances": [{"z": [0, 0, 0]}]}, 400, "keys must be equal to: c,z"),
    ("rows of one shape", "json_tensor.cc AddInstanceItem", "POST", "/v1/models/jointvae:predict",
     {"instances": [DECODE_ROW, {"z": [0, 0], "c": [1, 0, 0, 0]}]}, 400,
     "Failed to process element: 1 key: z of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 3"),
    ("several inputs need row objects", "json_tensor.cc FillTensorMapFromInstancesList", "POST",
     "/v1/models/jointvae:predict", {"instances": [[0, 0, 0]]}, 400, "instances is a plain list"),
    ("a plain list for a single input", "json_tensor.cc FillTensorMapFromInstancesList", "POST",
     "/v1/models/strings:predict", {"instances": [1.5, 2.0]}, 200, '"y": 3.0'),
    ("a value to an input of the wrong rank", "predict_util.cc RunPredict (Session::Run)", "POST",
     "/v1/models/jointvae:predict", {"inputs": {"z": [0, 0, 0], "c": [1, 0, 0, 0]}}, 400, ""),
    ("an older version is not served (latest, num_versions 1)", "file_system_storage_path_source.cc", "GET",
     "/v1/models/jointvae/versions/1", None, 404, "Could not find version 1 of model jointvae"),
    ("predict on an unloaded version", "manager.h ServableRequest::DebugString", "POST",
     "/v1/models/jointvae/versions/1:predict", SAMPLE, 404, "Servable not found for request: Specific(jointvae, 1)"),
]


@pytest.mark.parametrize("rule, source, method, path, body, status, text", REST_RULES, ids=[r[0] for r in REST_RULES])
def test_rest_rule(core, rule, source, method, path, body, status, text):
    code, answer = call(core, method, path, body)
    assert code == status, answer[:300]
    assert text.encode() in answer
    if code != 200 and answer:
        assert list(json.loads(answer)) == ["error"]  # json_tensor.cc, MakeJsonFromStatus


def test_a_bytes_alias_comes_back_as_b64_and_a_plain_string_as_raw_bytes(core):
    """json_tensor.cc, IsNamedTensorBytes: b64 only for DT_STRING aliases ending in _bytes; other strings are
    written by rapidjson as their raw bytes, so a PNG makes the answer invalid UTF-8 (and invalid JSON)."""
    blob = PNG_HEAD + b'"\\\x01'
    for body, key in (({"inputs": [1.0]}, "outputs"), ({"instances": [1.0]}, "predictions")):
        code, answer = call(core, "POST", "/v1/models/strings:predict", body)
        assert code == 200
        assert b'"\x89PNG\\r\\n\\u001A\\n\\"\\\\\\u0001"' in answer  # raw, escaped as rapidjson does
        with pytest.raises(UnicodeDecodeError):
            answer.decode()
        outputs = json.loads(answer.decode("latin-1"))[key]
        row = {name: values[0] for name, values in outputs.items()} if key == "outputs" else outputs[0]
        assert row["blob_bytes"] == {"b64": base64.b64encode(blob).decode()}
        assert row["blob"].encode("latin-1") == blob and row["y"] == 2.0


@pytest.mark.parametrize("value, dtype, written", [
    (0.1, types_pb2.DT_FLOAT, b"0.1"), (1.0, types_pb2.DT_FLOAT, b"1.0"), (1e-05, types_pb2.DT_FLOAT, b"1e-05"),
    (float(np.float32(0.123456789)), types_pb2.DT_FLOAT, b"0.123456791"), (float("nan"), types_pb2.DT_FLOAT, b"NaN"),
    (float("-inf"), types_pb2.DT_DOUBLE, b"-Infinity"), (0.1, types_pb2.DT_DOUBLE, b"0.1")])
def test_floats_are_written_as_json_tensor_writes_them(value, dtype, written):
    """json_tensor.cc, WriteDecimal: 6 digits when they read back exactly, else max_digits10; '.0' on whole
    numbers. So a float32 crosses REST exactly."""
    assert json_decimal(value, dtype) == written
    assert np.float32(json.loads(written)) == np.float32(value) or np.isnan(value)


def test_json_string_escapes_like_rapidjson():
    assert json_string(b'a"\\\n\x1f\x89') == b'"a\\"\\\\\\n\\u001F\x89"'


def test_metadata_lists_every_signature_and_prints_size_zero_dims(core):
    """get_model_metadata_impl.cc lists the MetaGraphDef's signatures, __saved_model_init_op included;
    http_rest_api_util.cc prints fields with default values (always_print_fields_with_no_presence)."""
    code, answer = call(core, "GET", "/v1/models/nodisc/metadata")
    metadata = json.loads(answer)
    assert code == 200 and metadata["model_spec"]["version"] == "1"  # an Int64Value prints as its value
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["__saved_model_init_op", "category_of_class", "encode", "encode_image", "encode_pixels",
                                  "sample", "serving_default", "traverse"]
    assert signatures["sample"]["inputs"]["category"]["tensor_shape"]["dim"] == [
        {"size": "-1", "name": ""}, {"size": "0", "name": ""}]


def test_status_follows_the_version_policy_of_models_config(core, models):
    assert version_policy() == {"jointvae": 1}  # serving/models.config: latest { num_versions: 1 }
    code, answer = call(core, "GET", "/v1/models/jointvae")
    assert code == 200 and json.loads(answer) == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    every = ServerCore(models, num_versions={"jointvae": None})
    assert [s["version"] for s in json.loads(call(every, "GET", "/v1/models/jointvae")[1])["model_version_status"]] \
        == ["1", "2"]


def test_a_request_larger_than_max_batch_size_is_rejected(core):
    """batching_session_test.cc: "Task size 4 is larger than maximum input batch size 3"."""
    body = {"signature_name": "sample", "inputs": {"seed": list(range(257)), "category": [[0]] * 257}}
    code, answer = call(core, "POST", "/v1/models/jointvae:predict", body)
    assert code == 400 and b"Task size 257 is larger than maximum input batch size 256" in answer


MERGE_THREE = BatchingParameters(3, 60_000_000, 64, 1)
"""Batches of 3 rows: the requests of a test (3 rows in all) run as one batch once all have come, however
late their threads start (the minute's timeout is only a bound)."""


def _concurrently(core, bodies, model):
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: call(core, "POST", f"/v1/models/{model}:predict", body), bodies))


def test_a_failing_run_fails_every_request_merged_into_its_batch(models):
    """batching_session.cc, ProcessBatch: one status for every task of the batch."""
    core = ServerCore(models, batching=MERGE_THREE)
    good, bad = ({"signature_name": "checked", "inputs": x} for x in ([1.0, 2.0], [-1.0]))
    answers = _concurrently(core, [good, bad], "strings")
    assert core.batcher.batch_sizes == [3]
    assert [code for code, _ in answers] == [400, 400] and all(b"x: expected >= 0" in a for _, a in answers)
    alone = {"signature_name": "checked", "inputs": [1.0, 2.0, 3.0]}  # a batch of its own (full: runs at once)
    assert call(core, "POST", "/v1/models/strings:predict", alone)[0] == 200


def test_the_sample_signature_answers_a_bad_row_without_failing_the_batch(models):
    core = ServerCore(models, batching=MERGE_THREE)
    good = {"signature_name": "sample", "inputs": {"seed": [1, 2], "category": [[0], [3]]}}
    bad = {"signature_name": "sample", "inputs": {"seed": [3], "category": [[4]]}}
    (good_code, good_answer), (bad_code, bad_answer) = _concurrently(core, [good, bad], "jointvae")
    assert core.batcher.batch_sizes == [3]
    assert good_code == bad_code == 200
    assert json.loads(good_answer)["outputs"]["row_error"] == ["", ""]
    refused = json.loads(bad_answer)["outputs"]
    assert refused["row_error"][0].startswith("category: expected column i in -1 .. K_i - 1")
    assert np.max(refused["images"]) == 0


def test_merged_requests_answer_what_they_answer_alone(models):
    core = ServerCore(models, batching=MERGE_THREE)
    bodies = [{"signature_name": "sample", "inputs": {"seed": [s], "category": [[-1]]}} for s in (5, 6, 7)]
    merged = _concurrently(core, bodies, "jointvae")
    assert core.batcher.batch_sizes == [3]
    alone = ServerCore(models, batching=None)
    for body, (_, answer) in zip(bodies, merged):
        expected = json.loads(call(alone, "POST", "/v1/models/jointvae:predict", body)[1])["outputs"]
        np.testing.assert_allclose(json.loads(answer)["outputs"]["images"], expected["images"], atol=1e-6)


def test_rest_timeout_is_504(models):
    """http_server.cc: DEADLINE_EXCEEDED (--rest_api_timeout_in_ms, 30 s by default) is HTTP 504."""
    core = ServerCore(models, rest_timeout_seconds=0.2, delay_seconds=1.0)
    code, answer = call(core, "POST", "/v1/models/jointvae:predict", SAMPLE)
    assert code == 504 and json.loads(answer) == {"error": "Deadline Exceeded"}


@pytest.fixture(scope="module")
def stub(core):
    with serve_grpc(core) as address:
        channel = grpc.insecure_channel(address)
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
        channel.close()


def _grpc_request(signature_name, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "jointvae"
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


GRPC_RULES = [
    ("an unknown signature is FAILED_PRECONDITION", "predict_util.cc RunPredict",
     _grpc_request("nope", seed=np.int64([1])), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    ("inputs counted against the signature", "predict_util.cc VerifyRequestInputsSize",
     _grpc_request("sample", seed=np.int64([1])), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 1!=2 len({seed}) != len({category,seed}). Sent extra: {}. "
     "Missing but required: {category}."),
    ("a dtype other than the signature's", "TensorFlow Session::Run",
     _grpc_request("sample", seed=np.int32([1]), category=np.int32([[0]])), grpc.StatusCode.INVALID_ARGUMENT,
     "to be int64 but int32 is provided"),
    ("no model spec", "predict_impl.cc Predict", predict_pb2.PredictRequest(), grpc.StatusCode.INVALID_ARGUMENT,
     "Missing ModelSpec"),
]


@pytest.mark.parametrize("rule, source, request_, code, text", GRPC_RULES, ids=[r[0] for r in GRPC_RULES])
def test_grpc_rule(stub, rule, source, request_, code, text):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request_, timeout=30)
    assert raised.value.code() == code and text in raised.value.details()


def test_grpc_outputs_are_proto_fields(stub):
    """predict_util.cc: kAsProtoField, the typed repeated fields rather than tensor_content."""
    response = stub.Predict(_grpc_request("sample", seed=np.int64([1, 2]), category=np.int32([[0], [1]])), timeout=30)
    assert response.outputs["images"].float_val and not response.outputs["images"].tensor_content
    assert response.model_spec.version.value == 2 and response.model_spec.signature_name == "sample"


def test_served_versions_parse_as_simple_atoi(models, tmp_path):
    """file_system_storage_path_source.cc, ParseVersionNumber: other names (".tmp-3-...") are skipped."""
    os.makedirs(tmp_path / "m" / ".tmp-3-1@host.abc")
    os.makedirs(tmp_path / "m" / "notes")
    assert ServerCore({"m": str(tmp_path / "m")}).served_versions("m") == []


def test_unavailable_knob_answers_503_then_serves(models):
    core = ServerCore(models, unavailable_answers=1)
    assert call(core, "GET", "/v1/models/jointvae")[0] == 503
    assert call(core, "GET", "/v1/models/jointvae")[0] == 200
