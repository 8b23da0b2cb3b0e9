"""Hostile and faulty peers of the serving side: what a web page, a local attacker or a broken server can
do, and what must hold afterwards (the status code, the one-line message, the exit code, the data intact).

The explorer's server is attacked over raw sockets (Host headers of another site, form posts, an upload
that declares 88 megapixels, connections that never finish); the clients meet TF-Serving stand-ins that
drip their answer, answer the wrong shapes or put terminal escapes in their error text.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import socket
import struct
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from PIL import Image, ImageFile
from serving_stubs import make_run

from jointvae_tf.core.config import LatentSpec
from jointvae_tf.errors import JointVAEError, RunFailure
from jointvae_tf.serving import export
from jointvae_tf.serving.client import RestClient, RetryPolicy
from jointvae_tf.serving.explorer import Explorer, address, make_server
from jointvae_tf.serving.explorer.app import layout_from_signatures
from jointvae_tf.serving.explorer.server import LISTEN_BACKLOG
from jointvae_tf.serving.predictor import sample
from jointvae_tf.serving.sources import open_predictor

LATENT = LatentSpec(3, (4,))
CODE = {"z": [0.1, -0.2, 0.3], "c": [1]}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """``(run folder, export base folder)`` of an untrained 32x32x1 model with cont 3, disc (4,)."""
    root = tmp_path_factory.mktemp("faults")
    run_dir = make_run(str(root / "run"), LATENT)
    export.export_run(run_dir, out=str(root / "saved_models"))
    return run_dir, str(root / "saved_models" / "jointvae")


@pytest.fixture(scope="module")
def explorer(model):
    predictor = open_predictor(model[1])
    yield Explorer(predictor, layout_from_signatures(predictor.signatures(), "m", predictor.config.latent))
    predictor.close()


@contextlib.contextmanager
def explorer_server(explorer, **kwargs):
    """The explorer's server on a free loopback port, in a thread; yields it."""
    server = make_server(explorer, port=0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def raw_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """``(status, JSON answer)`` of a request written byte for byte (any Host, any Content-Type)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := connection.recv(1 << 16):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload) if payload.startswith((b"{", b"[")) else {"raw": payload}


def post(port: int, path: str, body, content_type: str = "application/json", host: str | None = None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return raw_request(port, "POST", path, {"Host": host or f"127.0.0.1:{port}", "Content-Type": content_type,
                                            "Connection": "close"}, data)


# -- the explorer answers only requests addressed to it -------------------------------------------------------


def test_a_host_other_than_the_served_address_is_403_and_learns_nothing(explorer):
    with explorer_server(explorer) as server:
        port = server.server_address[1]
        for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1:{port + 1}", ""):
            status, answer = raw_request(port, "GET", "/api/model", {"Host": host, "Connection": "close"})
            assert status == 403 and "answers only requests addressed to it" in answer["error"], host
            assert "cont" not in answer and "disc" not in answer
            assert post(port, "/api/decode", CODE, host=host or "none")[0] == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            status, answer = raw_request(port, "GET", "/api/model", {"Host": host, "Connection": "close"})
            assert status == 200 and answer["cont"] == 3, host


def test_with_a_token_only_requests_that_carry_it_are_answered(explorer):
    """As a local Jupyter server: the token comes in the printed URL, then as a cookie of this port only."""
    with explorer_server(explorer, token="s3cret-token") as server:
        port = server.server_address[1]
        host = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
        assert address(server) == f"http://127.0.0.1:{port}/?token=s3cret-token"
        for path, headers in (("/api/model", {}), ("/api/model?token=wrong", {}), ("/", {}),
                              ("/api/model", {"Cookie": f"jvae-token-{port}=wrong"}),
                              ("/api/model", {"Cookie": f"jvae-token-{port + 1}=s3cret-token"}),
                              ("/api/model", {"Authorization": "token s3cret"}), ("/api/model", {"Cookie": '"\\'})):
            status, answer = raw_request(port, "GET", path, {**host, **headers})
            assert status == 403 and answer["error"].startswith("token: missing or wrong"), (path, headers)
        with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
            connection.sendall(f"GET /?token=s3cret-token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            page = connection.makefile("rb").read()
        assert page.startswith(b"HTTP/1.0 200 ") and b"<html" in page.lower()
        assert f"Set-Cookie: jvae-token-{port}=s3cret-token; Path=/; HttpOnly; SameSite=Strict".encode() in page
        for headers in ({"Cookie": f"jvae-token-{port}=s3cret-token"}, {"Authorization": "token s3cret-token"}):
            status, answer = raw_request(port, "GET", "/api/model", {**host, **headers})
            assert status == 200 and answer["cont"] == 3


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          ""])
def test_a_json_endpoint_refuses_what_another_site_may_post_with_415(explorer, content_type):
    """The three Content-Types a page of any site may send without the browser asking first (CORS)."""
    with explorer_server(explorer) as server:
        port = server.server_address[1]
        for path, body in (("/api/decode", CODE), ("/api/sample", {"seed": 3})):
            status, answer = post(port, path, body, content_type)
            assert status == 415 and answer["error"].endswith("expected application/json"), answer
        status, answer = post(port, "/api/encode", _png(8, 8), content_type)
        assert status == 415 and "expected an image type" in answer["error"]
        assert post(port, "/api/decode", CODE, "application/json; charset=utf-8")[0] == 200


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 200).save(buffer, format="PNG")
    return buffer.getvalue()


def _declared_png(width: int, height: int) -> bytes:
    """A valid PNG of ``width`` x ``height`` black grey pixels, compressed to a few hundred kilobytes at most."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_an_upload_declaring_88_megapixels_is_refused_before_it_is_decoded(explorer, monkeypatch):
    data = _declared_png(9400, 9400)
    assert len(data) < 300_000  # what a page can send in a blink
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size) or load(image))
    with explorer_server(explorer) as server:
        port = server.server_address[1]
        status, answer = post(port, "/api/encode", data, "image/png")
        assert status == 400
        assert answer["error"] == "upload: 9400 x 9400 pixels is over the limit of 16.8 megapixels; expected a " \
                                  "smaller picture"
        assert decoded == []  # refused from the header: not one pixel decoded
        status, answer = post(port, "/api/encode", _png(300, 200), "image/png")  # and the server goes on
        assert status == 200 and set(decoded) == {(300, 200)}


@pytest.mark.parametrize("body, message", [
    ({"z": [1e300, 0, 0], "c": [0]}, "z: expected 3 finite numbers (one per continuous dim) within +-1000"),
    ({"z": [10 ** 400, 0, 0], "c": [0]}, "z: expected 3 finite numbers"),
    (b"[" * 200_000 + b"]" * 200_000, "request body: expected JSON (nested too deeply)"),
    (b'{"z": ' + b"9" * 5000 + b"}", "request body: expected JSON (Exceeds the limit"),
])
def test_numbers_out_of_range_and_deep_json_are_400_with_one_line(explorer, body, message):
    with explorer_server(explorer) as server:
        status, answer = post(server.server_address[1], "/api/decode", body)
    assert status == 400 and answer["error"].startswith(message) and "\n" not in answer["error"], answer


def test_an_unexpected_error_is_500_with_one_line_and_the_server_goes_on(explorer, monkeypatch, capsys):
    def broken(request):
        raise RuntimeError("boom\n  File 'explorer.py', line 1\x1b[2J")

    with explorer_server(explorer) as server:
        port = server.server_address[1]
        monkeypatch.setattr(explorer, "decode", broken)
        status, answer = post(port, "/api/decode", CODE)
        assert status == 500
        assert answer == {"error": "internal error (RuntimeError: boom File 'explorer.py', line 1 [2J)"}
        monkeypatch.undo()
        assert post(port, "/api/decode", CODE)[0] == 200
    assert "Traceback" not in capsys.readouterr().err


def test_a_burst_of_connections_waits_in_the_listen_queue_and_is_answered(explorer):
    """A page opens many connections at once; none is refused and each gets its answer."""
    assert LISTEN_BACKLOG >= 64
    burst = 100
    with explorer_server(explorer, max_threads=4) as server:
        port = server.server_address[1]
        connections = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(burst)]
        request = f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        for connection in connections:
            connection.sendall(request)
        statuses = []
        for connection in connections:
            with connection:
                answer = b""
                while chunk := connection.recv(1 << 16):
                    answer += chunk
                statuses.append(answer.split(b" ", 2)[1])
    assert statuses == [b"200"] * burst


def test_connections_that_never_finish_their_headers_are_closed_and_their_threads_end(explorer):
    idle = 40
    with explorer_server(explorer, connection_timeout=1.0, max_threads=8) as server:
        port = server.server_address[1]
        threads_before = threading.active_count()
        connections = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(idle)]
        for connection in connections:
            connection.sendall(f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow:".encode())
        for connection in connections:  # each is closed by the server, with nothing answered
            with connection:
                assert connection.recv(1024) == b""
        status, answer = raw_request(port, "GET", "/api/model", {"Host": f"127.0.0.1:{port}", "Connection": "close"})
        assert status == 200
        for _ in range(600):  # the handler threads end once their connections are closed
            if threading.active_count() <= threads_before:
                break
            time.sleep(0.1)
        assert threading.active_count() <= threads_before


def test_a_request_trickling_in_a_byte_at_a_time_is_cut_at_the_deadline(explorer):
    """Each byte comes within the silence timeout; the request as a whole must still arrive in time."""
    sent = 0
    with explorer_server(explorer, connection_timeout=1.0, request_deadline=2.0) as server:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
            connection.sendall(f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
            with contextlib.suppress(OSError):
                for _ in range(60):
                    if select.select([connection], [], [], 0.5)[0]:  # the server closed it (EOF is readable)
                        break
                    connection.sendall(b"x")
                    sent += 1
            assert connection.recv(1024) == b""
    assert sent <= 12  # cut after about 4 bytes (2 s), not after the 60 (30 s) a silence timeout lets in


def test_the_standard_librarys_own_refusals_are_one_line_of_json(explorer):
    with explorer_server(explorer) as server:
        port = server.server_address[1]
        status, answer = raw_request(port, "OPTIONS", "/api/decode", {"Host": f"127.0.0.1:{port}"})
        assert (status, answer) == (501, {"error": "HTTP 501: Unsupported method ('OPTIONS')"})
        with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
            connection.sendall(b"NOT A REQUEST LINE AT ALL\r\n\r\n")
            answer = connection.makefile("rb").read()  # no HTTP version: answered as HTTP/0.9, the body alone
        assert json.loads(answer) == {"error": "HTTP 400: Bad request version ('ALL')"}


def test_a_body_that_never_arrives_is_408_and_the_connection_closed(explorer):
    with explorer_server(explorer, connection_timeout=1.0) as server:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
            connection.sendall(f"POST /api/decode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                               "application/json\r\nContent-Length: 100\r\n\r\n{".encode())
            answer = b""
            while chunk := connection.recv(1 << 16):
                answer += chunk
    assert answer.startswith(b"HTTP/1.0 408 ") and b'"request body: not received within 1 s"' in answer


def test_a_run_opened_in_process_leaves_no_temporary_folder(model, tmp_path, monkeypatch):
    """The explorer and `sample --run` export the run to a temporary folder; it is gone once loaded, so
    even a `kill -9` of the explorer leaves nothing behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    predictor = open_predictor(model[0])
    assert os.listdir(tmp_path) == []
    assert sample(predictor, 2, seed=1)["images"].shape == (2, 32, 32, 1)


# -- clients against faulty servers --------------------------------------------------------------------------


def _tensor(dtype: str, *sizes: int) -> dict:
    return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(size)} for size in sizes]}}


SAMPLE_METADATA = {"metadata": {"signature_def": {"signature_def": {"sample": {
    "inputs": {"seed": _tensor("DT_INT64", -1), "category": _tensor("DT_INT32", -1, 1)},
    "outputs": {"images": _tensor("DT_FLOAT", -1, 32, 32, 1), "z": _tensor("DT_FLOAT", -1, 3),
                "c": _tensor("DT_FLOAT", -1, 4), "categories": _tensor("DT_INT32", -1, 1),
                "png_bytes": _tensor("DT_STRING", -1), "row_error": _tensor("DT_STRING", -1)}}}}}}


def _outputs(rows: int, row_error: str = "", image_rows: int | None = None) -> dict:
    return {"outputs": {"images": np.zeros((rows if image_rows is None else image_rows, 32, 32, 1)).tolist(),
                        "z": [[0.0] * 3] * rows, "c": [[1.0, 0, 0, 0]] * rows, "categories": [[0]] * rows,
                        "png_bytes": [{"b64": ""}] * rows, "row_error": [row_error] * rows}}


@contextlib.contextmanager
def faulty_serving(predict):
    """A REST server answering TF-Serving's metadata for a cont 3, disc (4,) model, and every predict
    request with ``predict(rows) -> (status, JSON body)``; yields its address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._send(200, SAMPLE_METADATA)

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._send(*predict(len(request["inputs"]["seed"])))

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sample_cli(address: str, *arguments: str):
    return CliRunner().invoke(main, ["sample", "--server", address, "--n", "2", "--retries", "1", "--out",
                                     os.path.join(tempfile.gettempdir(), "unused-grid.png"), *arguments])


def test_a_server_dripping_its_answer_is_cut_at_the_deadline():
    """Headers at once, then one byte a second: ``timeout`` bounds the whole request, not each read."""
    sent = []
    listener = socket.create_server(("127.0.0.1", 0))

    def drip():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n")
            with contextlib.suppress(OSError):
                for _ in range(60):
                    connection.sendall(b" ")
                    sent.append(1)
                    time.sleep(1.0)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    client = RestClient(f"http://127.0.0.1:{listener.getsockname()[1]}", retry=RetryPolicy(attempts=1, timeout=2))
    with pytest.raises(RunFailure, match=r"no answer within 2 s \(retry.timeout\)$"):
        client.signatures()
    thread.join(120)
    listener.close()
    assert len(sent) <= 10  # the client hung up after about 2 bytes, not after the 60 a per-read timeout lets in


def test_a_servers_error_text_reaches_the_terminal_on_one_line_without_escapes():
    hostile = "shape mismatch\n\x1b[2J\x1b[31mrm -rf /\r\x07done"
    with faulty_serving(lambda rows: (400, {"error": hostile})) as address:
        result = _sample_cli(address)
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "\x1b" not in result.output and "\r" not in result.output and "\x07" not in result.output
    assert "rejected the sample request (shape mismatch [2J [31mrm -rf / done)" in result.output


def test_a_row_error_from_a_server_is_cleaned_too():
    with faulty_serving(lambda rows: (200, _outputs(rows, row_error="bad\n\x1b[2Jrow"))) as address:
        result = _sample_cli(address)
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "\x1b" not in result.output
    assert "--category [-1]: bad [2Jrow (2 of 2 rows refused, first: row 0)" in result.output


def test_a_wrong_shape_answer_is_a_failed_job_exit_1():
    with faulty_serving(lambda rows: (200, _outputs(rows, image_rows=rows + 1))) as address:
        result = _sample_cli(address)
        with pytest.raises(RunFailure, match=r"the sample answer's 'images' has shape \(3, 32, 32, 1\); expected "
                                             r"\(2, 32, 32, 1\) for 2 rows"):
            sample(RestClient(address, retry=RetryPolicy(attempts=1)), 2)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "'images' has shape (3, 32, 32, 1)" in result.output


# -- versions TF-Serving can read ----------------------------------------------------------------------------


def test_a_version_beyond_int64_is_refused_and_never_becomes_the_next(model, tmp_path):
    run_dir = model[0]
    out = str(tmp_path / "saved_models")
    result = CliRunner().invoke(main, ["export", run_dir, "--out", out, "--version", "99999999999999999999"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--version: expected an integer 1 .. 9223372036854775807 (TF-Serving's int64), got 99999999999999999999" \
        in result.output
    assert not os.path.exists(os.path.join(out, "jointvae", "99999999999999999999"))
    os.makedirs(os.path.join(out, "jointvae", "99999999999999999999"))  # left by an older export
    assert export.list_versions(os.path.join(out, "jointvae")) == []
    assert export.export_run(run_dir, out=out).endswith(os.path.join("jointvae", "1"))
    export.export_run(run_dir, out=out, version=export.MAX_VERSION)
    with pytest.raises(JointVAEError, match="^version: .* holds the highest version TF-Serving reads"):
        export.export_run(run_dir, out=out)
    for command in ("sample", "explore"):
        result = CliRunner().invoke(main, [command, "--server", "http://127.0.0.1:1", "--version", str(2 ** 63)])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "--version" in result.output
    with pytest.raises(JointVAEError, match="^version: expected an integer 1 .. 9223372036854775807"):
        RestClient("http://127.0.0.1:1", version=2 ** 63)
