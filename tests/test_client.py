"""The REST and gRPC clients against the TF-Serving stand-in (tests/serving_stubs.py, checked by
test_serving_stubs.py), for exports with and without discrete and continuous codes."""

import socket
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from serving_stubs import (
    BatchingParameters,
    ServerCore,
    make_run,
    self_signed_certificate,
    serve_grpc,
    serve_rest,
)

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError
from jointvae_tf.serving import export
from jointvae_tf.serving.client import GrpcClient, RestClient, RetryPolicy
from jointvae_tf.serving.local import LocalPredictor
from jointvae_tf.serving.predictor import category_counts, check_sample_signature, sample

FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=600)  # no time bound: this machine's 2 cores are shared
PATIENT = 600  # seconds: --rest_api_timeout_in_ms of the stand-ins where the test is not about timeouts
LATENTS = {"jointvae": LatentSpec(3, (4,)), "nodisc": LatentSpec(2, ()), "nocont": LatentSpec(0, (3,)),
           "twodisc": LatentSpec(2, (3, 2))}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Base folders of one export per latent layout of LATENTS, plus ``plain``: a SavedModel without ``sample``."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("serving")
    base = root / "saved_models"
    for name, latent in LATENTS.items():
        export.export_run(make_run(str(root / name), latent), out=str(base), name=name)
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": 2 * x}, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(base / "plain" / "1"), signatures={"serving_default": module.f})
    return {name: str(base / name) for name in (*LATENTS, "plain")}


@pytest.fixture(scope="module")
def core(models):
    return ServerCore(models, rest_timeout_seconds=PATIENT)


@pytest.fixture(scope="module")
def rest(core):
    with serve_rest(core) as address:
        yield address


@pytest.fixture(scope="module")
def grpc_address(core):
    with serve_grpc(core) as address:
        yield address


@pytest.fixture(scope="module")
def connect(rest, grpc_address):
    """``connect(protocol, **kwargs)``: a client of the module's stand-in."""
    clients = {"rest": lambda **kw: RestClient(rest, retry=FAST, **kw),
               "rest-rows": lambda **kw: RestClient(rest, retry=FAST, row_format=True, **kw),
               "grpc": lambda **kw: GrpcClient(grpc_address, retry=FAST, **kw)}
    return lambda protocol, **kw: clients[protocol](**kw)


@pytest.mark.parametrize("model", list(LATENTS))
@pytest.mark.parametrize("protocol", ["rest", "rest-rows", "grpc"])
def test_sample_over_the_wire_equals_local_sampling(connect, models, protocol, model):
    client = connect(protocol, model=model)
    category = [LATENTS[model].disc[0] - 1] if LATENTS[model].disc else []
    answer = sample(client, 5, seed=11, category=category)
    expected = sample(LocalPredictor(models[model]), 5, seed=11, category=category)
    assert sorted(answer) == sorted(expected)
    np.testing.assert_array_equal(answer["images"], expected["images"])  # float32 crosses JSON exactly
    np.testing.assert_array_equal(answer["categories"], expected["categories"])
    assert list(answer["png_bytes"]) == list(expected["png_bytes"])  # PNG bytes survive b64 / TensorProto
    assert list(answer["row_error"]) == [b""] * 5
    assert category_counts(client) == ([LATENTS[model].disc[0]] if len(LATENTS[model].disc) == 1
                                        else [None] * len(LATENTS[model].disc))


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_metadata_keeps_size_zero_dimensions(connect, protocol):
    signatures = connect(protocol, model="nodisc").signatures()
    assert signatures["sample"].inputs["category"].shape == (-1, 0)
    assert signatures["sample"].outputs["c"].shape == (-1, 0)
    assert "__saved_model_init_op" in signatures


def test_serving_default_rows_and_columns_agree(connect):
    z, c = np.zeros((2, 3), np.float32), np.eye(4, dtype=np.float32)[:2]
    columns = connect("rest").predict({"z": z, "c": c})
    rows = connect("rest-rows").predict({"z": z, "c": c})
    assert columns["images"].shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(columns["images"], rows["images"])


def test_sample_splits_n_into_requests_of_max_batch_size(models):
    core = ServerCore(models, batching=BatchingParameters(3, 1000, 64, 1))
    with serve_rest(core) as address:
        answer = sample(RestClient(address, retry=FAST, max_batch_size=3), 7, seed=2)
        with pytest.raises(JointVAEError, match="Task size 4 is larger than maximum input batch size 3"):
            sample(RestClient(address, retry=FAST, max_batch_size=4), 4)
    assert core.batcher.batch_sizes == [3, 3, 1]
    local = sample(LocalPredictor(models["jointvae"]), 7, seed=2)["images"]
    np.testing.assert_allclose(answer["images"], local, atol=1e-6)  # conv rounding may vary with the batch size


def test_default_split_serves_more_than_max_batch_size(connect):
    assert sample(connect("grpc", model="nocont"), 300, seed=0)["images"].shape == (300, 32, 32, 1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unknown_model_or_version_is_a_clear_error(connect, protocol):
    with pytest.raises(JointVAEError, match=r"model 'nope' at .*: not found \(Servable not found .*file-system poll"):
        sample(connect(protocol, model="nope"), 1)
    with pytest.raises(JointVAEError, match=r"model 'jointvae' version 2 at .*: not found .*Specific\(jointvae, 2\)"):
        sample(connect(protocol, version=2), 1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_bad_requests_and_signature_mismatch(connect, protocol):
    with pytest.raises(JointVAEError, match="rejected the serving_default request"):
        connect(protocol).predict({"z": np.zeros((2, 3), np.float32), "c": np.zeros((2, 5), np.float32)})
    with pytest.raises(JointVAEError, match=r"category: expected up to 1 values .* count \[4\], got \[4\]"):
        sample(connect(protocol), 2, category=[4])  # checked against the metadata: 4 categories, 0..3
    with pytest.raises(JointVAEError, match=r"category=\[3, -1\]: category: expected column i .*K = \[3, 2\]"):
        sample(connect(protocol, model="twodisc"), 2, category=[3])  # K_i unknown to the client: the graph refuses
    with pytest.raises(JointVAEError, match="signature 'sample' has inputs none .*jvae-tf export"):
        sample(connect(protocol, model="plain"), 1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unknown_signature_is_named_with_those_the_model_has(connect, protocol):
    with pytest.raises(JointVAEError, match=r"no signature 'nope'; it has \[.*'encode', .*'sample', 'serving_default'"):
        connect(protocol).predict({"seed": np.int64([1])}, "nope")


def test_an_answer_that_is_not_json_is_one_error_not_a_retry(models, tmp_path):
    """A string output whose name does not end in _bytes is written raw (json_tensor.cc): a PNG there makes
    the answer invalid UTF-8. The client says so once instead of retrying as if no server answered."""
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda seed, category: {"png": tf.fill(tf.shape(seed), b"\x89PNG\r\n")},
                           input_signature=[tf.TensorSpec([None], tf.int64, name="seed"),
                                            tf.TensorSpec([None, 1], tf.int32, name="category")])
    tf.saved_model.save(module, str(tmp_path / "old" / "1"), signatures={"sample": module.f})
    core = ServerCore({"old": str(tmp_path / "old")}, batching=None)
    with serve_rest(core) as address:
        with pytest.raises(JointVAEError, match=r"answer to the sample request is not TF-Serving's JSON "
                                                r"\(UnicodeDecodeError.*") as raised:
            RestClient(address, "old", retry=FAST).predict({"seed": np.int64([1]), "category": np.int32([[0]])},
                                                           "sample")
    assert "no TF-Serving answered" not in str(raised.value)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unavailable_is_retried_then_reported(models, protocol):
    for unavailable, succeeds in ((2, True), (3, False)):
        core = ServerCore(models, unavailable_answers=unavailable)
        with (serve_rest if protocol == "rest" else serve_grpc)(core) as address:
            client = (RestClient if protocol == "rest" else GrpcClient)(address, retry=FAST)
            if succeeds:
                assert check_sample_signature(client) == 1  # the third try is answered
            else:
                with pytest.raises(JointVAEError, match=r"no TF-Serving answered after 3 tries .*queue .* is full"):
                    client.signatures()


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_timeout_of_the_client_and_of_the_server(models, protocol):
    core = ServerCore(models, delay_seconds=3.0, rest_timeout_seconds=1.0)
    with (serve_rest if protocol == "rest" else serve_grpc)(core) as address:
        make = RestClient if protocol == "rest" else GrpcClient
        with pytest.raises(JointVAEError, match=r"no answer within 0.5 s \(retry.timeout\)"):
            sample(make(address, retry=RetryPolicy(attempts=1, timeout=0.5)), 1)
        if protocol == "rest":
            with pytest.raises(JointVAEError, match="the server gave up on the sample request after its "
                                                    r"--rest_api_timeout_in_ms \(Deadline Exceeded\)"):
                sample(make(address, retry=RetryPolicy(attempts=1, timeout=PATIENT)), 1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_no_server_fails_after_bounded_retries(protocol):
    with socket.socket() as taken:  # bound, never listening: connections are refused, no other test gets it
        taken.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        client = RestClient(address, retry=FAST) if protocol == "rest" else GrpcClient(address, retry=FAST)
        with pytest.raises(JointVAEError, match=r"no TF-Serving answered after 3 tries .*is the server running"):
            sample(client, 1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_tls(models, tmp_path, protocol):
    certificate = self_signed_certificate(str(tmp_path))
    core = ServerCore(models)
    with (serve_rest if protocol == "rest" else serve_grpc)(core, tls=certificate) as address:
        make = RestClient if protocol == "rest" else GrpcClient
        assert sample(make(address, retry=FAST, tls_ca=certificate[0]), 2)["images"].shape == (2, 32, 32, 1)
        untrusted = "TLS failed .*tls_ca=PATH" if protocol == "rest" else "no TF-Serving answered"
        with pytest.raises(JointVAEError, match=untrusted):
            sample(make(address, retry=RetryPolicy(attempts=1)), 1)
    with pytest.raises(JointVAEError, match="^tls_ca: .*missing.pem: no such file"):
        make(address, tls_ca=str(tmp_path / "missing.pem"))


def test_missing_grpc_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.raises(JointVAEError, match=r"^the gRPC client needs tensorflow-serving-api .*"
                                            r"pip install 'jointvae-tf\[grpc\]'"):
        GrpcClient("127.0.0.1:1")


def test_cli_sample_from_servers_writes_the_grid(rest, grpc_address, tmp_path):
    from PIL import Image

    runner = CliRunner()
    for flag, address in (("--server", rest), ("--grpc", grpc_address)):
        out = tmp_path / f"{flag[2:]}.png"
        result = runner.invoke(main, ["sample", flag, address, "--n", "4", "--seed", "3", "--out", str(out),
                                      "--max-batch", "3", "--timeout", str(PATIENT)])
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)
    missing = runner.invoke(main, ["sample", "--server", rest, "--model", "nope", "--out", str(tmp_path / "x.png")])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "not found" in missing.output


@pytest.mark.parametrize("arguments, message", [
    ([], "expected --run or one of --export, --server, --grpc, got none"),
    (["--server", "http://127.0.0.1:1", "--grpc", "127.0.0.1:1"], "got --server and --grpc"),
    (["--run", "runs/r", "--export", "saved_models/m"], "--run: sample reads one model, got --run and --export"),
    (["--server", "http://127.0.0.1:1", "--category", "3,x"], "--category: expected integers such as 3 or 3,-1"),
    (["--server", "ftp://127.0.0.1:1"], "--server: ftp://127.0.0.1:1: expected http://HOST:PORT or https://"),
    (["--server", "http://127.0.0.1:1", "--tls-ca", "ca.pem"], "--tls-ca: the REST address"),
    (["--export", "saved_models/none", "--tls-ca", "ca.pem"], "--tls-ca: only with --server or --grpc"),
])
def test_cli_sample_bad_arguments_are_one_line(tmp_path, arguments, message):
    (tmp_path / "ca.pem").write_text("not a certificate")
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        (tmp_path / "ca.pem").rename("ca.pem")
        result = CliRunner().invoke(main, ["sample", *arguments])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert message in result.output


def test_cli_sample_from_a_saved_model_without_a_sample_signature(models):
    result = CliRunner().invoke(main, ["sample", "--export", models["plain"]])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "no assets.extra/jointvae_export.json; expected a version folder written by `jvae-tf export`" in result.output
