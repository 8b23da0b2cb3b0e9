"""The REST and gRPC clients against loopback stand-ins for TensorFlow Serving (tests/serving_stubs.py).

The stubs answer TF-Serving's documented endpoints by running the export's signatures, so these tests
check the requests a client sends and how it reads answers and errors, not TF-Serving itself.
"""

import json
import os
import socket
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from serving_stubs import make_run, serve_grpc, serve_rest

from jointvae_tf import export
from cli.main import main
from jointvae_tf.client import GrpcClient, RestClient, RetryPolicy
from jointvae_tf.errors import JointVAEError

FAST = RetryPolicy(attempts=3, backoff=0.01, timeout=30)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``{"jointvae": base folder with version 1 and a half-written .tmp-2-x, "plain": a SavedModel without
    a sample signature}``."""
    root = tmp_path_factory.mktemp("serving")
    base = root / "saved_models"
    export.export_run(make_run(str(root / "run")), out=str(base))
    os.makedirs(base / "jointvae" / ".tmp-2-half")  # an export being written: never served
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": 2 * x}, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(base / "plain" / "1"), signatures={"serving_default": module.f})
    return {"jointvae": str(base / "jointvae"), "plain": str(base / "plain")}


@pytest.fixture(scope="module")
def rest(models):
    with serve_rest(models) as address:
        yield address


@pytest.fixture(scope="module")
def grpc_address(models):
    with serve_grpc(models) as address:
        yield address


@pytest.fixture(scope="module")
def local(models):
    return export.ExportSampler(models["jointvae"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_rest_status_and_metadata_as_tf_serving_documents_them(rest):
    status = get(f"{rest}/v1/models/jointvae")["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("1", "AVAILABLE")]  # .tmp-2-half is not a version
    client = RestClient(rest, retry=FAST)
    signatures = client.signatures()
    assert sorted(signatures) == ["encode", "sample", "serving_default", "traverse"]
    assert signatures["sample"].inputs["category"].shape == (-1, 1)
    assert signatures["sample"].outputs["png"].dtype == "DT_STRING"
    assert client.check_sample_signature() == 1


@pytest.mark.parametrize("client", ["rest", "rest-rows", "grpc"])
def test_sample_over_the_wire_equals_local_sampling(client, rest, grpc_address, local):
    served = {"rest": lambda: RestClient(rest, retry=FAST), "rest-rows": lambda: RestClient(rest, retry=FAST, row_format=True),
              "grpc": lambda: GrpcClient(grpc_address, retry=FAST)}[client]()
    answer = served.sample(5, seed=11, category=[2])
    expected = local.sample(5, seed=11, category=[2])
    np.testing.assert_allclose(answer["images"], expected["images"], atol=1e-6)
    np.testing.assert_array_equal(answer["categories"], np.full((5, 1), 2))
    assert list(answer["png"]) == list(expected["png"])  # PNG bytes survive b64 / TensorProto


def test_serving_default_rows_and_columns_agree(rest):
    z, c = np.zeros((2, 3), np.float32), np.eye(4, dtype=np.float32)[:2]
    columns = RestClient(rest, retry=FAST).predict({"z": z, "c": c})
    rows = RestClient(rest, retry=FAST, row_format=True).predict({"z": z, "c": c})
    assert columns["images"].shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(columns["images"], rows["images"])


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unknown_model_or_version_is_a_clear_error(protocol, rest, grpc_address):
    connect = {"rest": lambda **kw: RestClient(rest, retry=FAST, **kw),
               "grpc": lambda **kw: GrpcClient(grpc_address, retry=FAST, **kw)}[protocol]
    with pytest.raises(JointVAEError, match=r"model 'nope' at .*: not found \(Servable not found"):
        connect(model="nope").sample(1)
    with pytest.raises(JointVAEError, match=r"model 'jointvae' version 2 at .*: not found .*Specific\(jointvae, 2\)"):
        connect(version=2).sample(1)  # the half-written .tmp-2-half is not served


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_bad_requests_and_signature_mismatch(protocol, rest, grpc_address):
    connect = {"rest": lambda **kw: RestClient(rest, retry=FAST, **kw),
               "grpc": lambda **kw: GrpcClient(grpc_address, retry=FAST, **kw)}[protocol]
    with pytest.raises(JointVAEError, match="rejected the serving_default request"):
        connect().predict({"z": np.zeros((2, 3), np.float32), "c": np.zeros((2, 5), np.float32)})
    with pytest.raises(JointVAEError, match="rejected the sample request .*category: expected"):
        connect().sample(2, category=[4])  # 4 categories: 0..3
    with pytest.raises(JointVAEError, match="signature 'sample' has inputs none .*jvae-tf export"):
        connect(model="plain").sample(1)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_no_server_fails_after_bounded_retries(protocol):
    address = f"127.0.0.1:{free_port()}"
    client = RestClient(address, retry=FAST) if protocol == "rest" else GrpcClient(address, retry=FAST)
    start = time.monotonic()
    with pytest.raises(JointVAEError, match=r"no TF-Serving answered after 3 tries .*is the server running"):
        client.sample(1)
    assert time.monotonic() - start < 5


def test_cli_sample_from_servers_writes_the_grid(rest, grpc_address, tmp_path):
    runner = CliRunner()
    for flag, address in (("--server", rest), ("--grpc", grpc_address)):
        out = tmp_path / f"{flag[2:]}.png"
        result = runner.invoke(main, ["sample", flag, address, "--n", "4", "--seed", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        from PIL import Image

        assert Image.open(out).size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)
    missing = runner.invoke(main, ["sample", "--server", rest, "--model", "nope", "--out", str(tmp_path / "x.png")])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "not found" in missing.output
