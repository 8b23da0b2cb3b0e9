"""The explorer's HTTP server: the page and its JSON API on a local address, answered by an
:class:`~jointvae_tf.serving.explorer.app.Explorer`.

Endpoints (JSON in and out; a code is ``"z"``: ``[cont]`` floats and ``"c"``: ``[n_disc]`` category ids):

- ``GET /`` the page, ``GET /static/NAME`` its script and style;
- ``GET /api/model``: latent layout, continuous dims ordered by held-out KL (nats) with their labels,
  category names per discrete variable (see :meth:`Explorer.model_info`);
- ``POST /api/decode`` ``{"z", "c"}`` -> the decoded image as a PNG data URL (:meth:`Explorer.decode`);
- ``POST /api/views`` ``{"z", "c", "dim", "strip"}`` -> the strip of ``dim`` and the rows of categories
  (:meth:`Explorer.views`);
- ``POST /api/sample`` ``{"seed"}`` -> a code drawn from the prior (:meth:`Explorer.sample`);
- ``POST /api/encode``, body the bytes of a PNG or JPEG of any size -> its code (:meth:`Explorer.encode`).

It answers only requests addressed to it, as a local Jupyter server does: the ``Host`` header must name
the address it serves (``localhost``, ``127.0.0.1``, ``[::1]`` or the address it is bound to, with its
port; any IP address when bound to every interface), else 403, so a web page reaching it by DNS
rebinding gets nothing. With a token (``jvae-tf explore`` makes one each start), every request must also
carry it, as ``?token=...`` in the URL (the page's address; the answer then sets it as a cookie that is
sent to this server only, with the page's own requests), as that cookie, or as an ``Authorization: token
...`` header; else 403, so another user of the machine cannot use the model either. A JSON request must
say ``Content-Type: application/json`` and an upload an image type or ``application/octet-stream``, else
415: the types a page of another site may send without asking (a form's, ``text/plain``) are refused,
and for the others the browser asks first (CORS preflight), which this server never grants.

Resources are bounded: a connection silent for :data:`CONNECTION_TIMEOUT` seconds is closed, and so is
one whose request has not arrived in full after :data:`REQUEST_DEADLINE` seconds; at most
:data:`MAX_THREADS` requests are handled at once while up to :data:`LISTEN_BACKLOG` more connections
wait in the listen queue (a browser opens several at once), and bodies are capped before they are read.

A request the server cannot answer gets ``{"error": one line}``: 400 for a bad request (wrong latent
length, a file that is not a PNG/JPEG, an upload over its size or pixel limit), 403 for another Host or
a missing token, 404 for an unknown path, 408 for a body that does not arrive in time, 415 for a wrong Content-Type, 502
when the model behind it failed, 500 for anything unexpected; never a traceback.
"""

from __future__ import annotations

import contextlib
import hmac
import http.cookies
import importlib.resources
import ipaddress
import json
import os
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jointvae_tf.errors import ConfigError, JointVAEError
from jointvae_tf.serving.explorer.app import MAX_JSON_BYTES, MAX_UPLOAD_BYTES, BadRequest, Explorer, shown, too_large
from jointvae_tf.serving.predictor import one_line

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
CONNECTION_TIMEOUT = 10.0
"""Seconds a connection may stay silent (while its request line, headers or body are due) before it is closed."""
REQUEST_DEADLINE = 30.0
"""Seconds within which a request must arrive in full (line, headers and body), however slowly it trickles
in; the connection is closed then."""
MAX_THREADS = 32
"""Requests handled at once; further connections wait in the listen queue."""
LISTEN_BACKLOG = 128
"""Connections the listen queue holds before the system refuses more."""
JSON_TYPE = "application/json"
UPLOAD_TYPES = ("image/", "application/octet-stream")
"""Content-Types an upload may have: any image type (the format is read from the bytes), or raw bytes."""
TOKEN_PARAMETER = "token"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_EVERY_INTERFACE = ("", "0.0.0.0", "::")


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                connection_timeout: float = CONNECTION_TIMEOUT, request_deadline: float = REQUEST_DEADLINE,
                max_threads: int = MAX_THREADS) -> ThreadingHTTPServer:
    """A threading HTTP server answering the page and its API for ``explorer``, bound but not yet serving
    (call ``serve_forever()``); port 0 picks a free port (``server.server_address[1]``).

    Args:
      explorer: answers the API.
      host, port: the address to listen on.
      token: a secret every request must carry (see the module docstring; :func:`address` includes it),
        or None to answer without one.
      connection_timeout: seconds a connection may stay silent before it is closed.
      request_deadline: seconds within which a request must arrive in full.
      max_threads: requests handled at once.
    """
    try:
        server = _ExplorerServer((host, port), _Handler, max_threads)
    except OSError as error:
        raise ConfigError("port", f"{host}:{port}: cannot listen there ({error.strerror or error}); "
                          "pass another port=N, or 0 for any free one") from None
    server.explorer = explorer
    server.static = _static_files()
    server.connection_timeout = connection_timeout
    server.request_deadline = request_deadline
    server.token = token
    return server


def address(server: ThreadingHTTPServer) -> str:
    """The page's URL, e.g. ``http://127.0.0.1:8850/``, ending in ``?token=...`` when the server has one."""
    host, port = server.server_address[:2]
    query = f"?{TOKEN_PARAMETER}={server.token}" if server.token else ""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/{query}"


class _ExplorerServer(ThreadingHTTPServer):
    """One thread per request, at most ``max_threads`` at once: the accept loop waits for a free slot,
    and connections meanwhile wait in the listen queue of :data:`LISTEN_BACKLOG`."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    explorer: Explorer
    static: dict[str, tuple[bytes, str]]
    connection_timeout: float
    request_deadline: float
    token: str | None

    def __init__(self, server_address, handler, max_threads: int):
        self._slots = threading.BoundedSemaphore(max_threads)
        super().__init__(server_address, handler)

    def process_request(self, request, client_address):
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def accepts_host(self, value: str) -> bool:
        """Whether a ``Host`` header names this server: a loopback name or the bound address (any IP
        address when bound to every interface), with the served port (80 when none is given)."""
        name, colon, port = value.rpartition(":")
        if not colon or "]" in port:  # no port, or a bare IPv6 address
            name, port = value, "80"
        name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        bound, served = self.server_address[:2]
        if port != str(served):
            return False
        if name.lower() in (*_LOOPBACK_NAMES, bound):
            return True
        if bound in _EVERY_INTERFACE:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False

    @property
    def token_cookie(self) -> str:
        """The cookie holding the token; named by the port, so pages of two explorers do not mix."""
        return f"jvae-token-{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _ExplorerServer
    server_version = "jvae-tf-explore"

    def setup(self):
        self.timeout = self.server.connection_timeout  # socket timeout of every read and write
        self._token_in_url = False
        # A socket timeout bounds each read; this bounds their sum, for a client that sends a byte at a time.
        self._arriving = threading.Timer(self.server.request_deadline, self._cut_off)
        self._arriving.daemon = True
        self._arriving.start()
        super().setup()

    def finish(self):
        self._arriving.cancel()
        super().finish()

    def _cut_off(self) -> None:
        """Close the connection of a request that has not arrived in full by the deadline."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_RDWR)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, an unsupported method such as
        OPTIONS, headers too long) as one line of JSON, as every other answer."""
        self.close_connection = True
        reason = message or self.responses.get(code, ("",))[0]
        self._send(code, {"error": one_line(f"HTTP {code}: {reason}")})

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        self._answer(lambda: self._get(path))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        self._answer(lambda: self._post(path))

    def _get(self, path: str):
        self._arriving.cancel()  # the request has arrived: a GET has no body
        name = "index.html" if path == "/" else path[len("/static/"):] if path.startswith("/static/") else None
        if name in self.server.static:
            return self.server.static[name]
        if path == "/api/model":
            return self.server.explorer.model_info()
        raise _Refused(404, f"{shown(path)}: no such page or endpoint")

    def _post(self, path: str):
        explorer = self.server.explorer
        if path == "/api/encode":
            self._expect_type(UPLOAD_TYPES, "an image type (image/png, image/jpeg) or application/octet-stream")
            return explorer.encode(self._body(MAX_UPLOAD_BYTES, "upload"))
        handlers = {"/api/decode": explorer.decode, "/api/views": explorer.views, "/api/sample": explorer.sample}
        if path not in handlers:
            raise _Refused(404, f"{shown(path)}: no such page or endpoint")
        self._expect_type((JSON_TYPE,), JSON_TYPE, exact=True)
        body = self._body(MAX_JSON_BYTES, "request body")
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else one_line(str(error), 100)
            raise BadRequest(f"request body: expected JSON ({reason})") from None
        if not isinstance(request, dict):
            raise BadRequest(f"request body: expected a JSON object, got {shown(request)}")
        return handlers[path](request)

    def _expect_type(self, accepted: tuple[str, ...], expected: str, exact: bool = False) -> None:
        """415 unless the Content-Type (without its parameters) is, or with ``exact`` False starts with,
        one of ``accepted``."""
        given = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not any(given == kind if exact else given.startswith(kind) for kind in accepted) or not given:
            raise _Refused(415, f"Content-Type {shown(given or 'none')}: expected {expected}")

    def _body(self, limit: int, what: str) -> bytes:
        """The request body, at most ``limit`` bytes (a larger one is drained or the connection closed)."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequest(f"{what}: expected a Content-Length header")
        try:
            if length > limit:
                if length <= 4 * limit:  # read it away, so that the browser sees the answer rather than a reset
                    remaining = length
                    while remaining > 0 and (chunk := self.rfile.read(min(1 << 20, remaining))):
                        remaining -= len(chunk)
                else:
                    self.close_connection = True
                raise BadRequest(too_large(what, length, limit))
            data = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise _Refused(408, f"{what}: not received within {self.server.connection_timeout:g} s") from None
        if len(data) < length:
            self.close_connection = True
            raise BadRequest(f"{what}: {len(data)} of the {length} bytes announced arrived")
        self._arriving.cancel()
        return data

    def _answer(self, handle) -> None:
        host = self.headers.get("Host", "")
        if not self.server.accepts_host(host):
            self.close_connection = True
            port = self.server.server_address[1]
            return self._send(403, {"error": f"Host {shown(host or 'none')}: this server answers only requests "
                                             f"addressed to it, such as 127.0.0.1:{port} or localhost:{port}"})
        if not self._carries_token():
            self.close_connection = True
            return self._send(403, {"error": "token: missing or wrong; open the page at the address `jvae-tf "
                                             "explore` printed, which ends in ?token=..."})
        try:
            result = handle()
        except BadRequest as error:
            return self._send(400, {"error": one_line(str(error))})
        except _Refused as error:
            return self._send(error.status, {"error": str(error)})
        except JointVAEError as error:
            return self._send(502, {"error": one_line(str(error))})
        except Exception as error:  # the page gets one line, never a traceback
            message = one_line(f"internal error ({type(error).__name__}: {error})")
            print(f"jvae-tf explore: {self.command} {one_line(self.path, 100)}: {message}", file=sys.stderr)
            return self._send(500, {"error": message})
        if isinstance(result, tuple):
            return self._send(200, *result)
        return self._send(200, result)

    def _carries_token(self) -> bool:
        """Whether the request carries the server's token (always, when it has none); remembers whether it
        came in the URL, to be set as a cookie."""
        token = self.server.token
        if token is None:
            return True
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get(TOKEN_PARAMETER, [])
        try:
            cookie = http.cookies.SimpleCookie(self.headers.get("Cookie", "")).get(self.server.token_cookie)
        except http.cookies.CookieError:
            cookie = None
        authorization = self.headers.get("Authorization", "")
        given = [value for value in (*query[:1], cookie and cookie.value,
                                     authorization[6:] if authorization.startswith("token ") else None) if value]
        self._token_in_url = bool(query) and hmac.compare_digest(query[0].encode(), token.encode())
        return any(hmac.compare_digest(value.encode(), token.encode()) for value in given)

    def _send(self, status: int, body, content_type: str = JSON_TYPE) -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        try:
            self.send_response(status)
            if self._token_in_url and status == 200:
                self.send_header("Set-Cookie", f"{self.server.token_cookie}={self.server.token}; Path=/; HttpOnly; "
                                               "SameSite=Strict")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def log_message(self, format, *args):
        """Quiet: a moving slider makes many requests; failures are answered to the page instead."""


class _Refused(Exception):
    """A request answered with HTTP ``status`` and the message, which names what was wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _static_files() -> dict[str, tuple[bytes, str]]:
    """``{file name: (bytes, content type)}`` of the page, read once from the package's ``static`` folder."""
    folder = importlib.resources.files("jointvae_tf.serving.explorer") / "static"
    return {entry.name: (entry.read_bytes(), STATIC_TYPES[os.path.splitext(entry.name)[1]])
            for entry in folder.iterdir() if os.path.splitext(entry.name)[1] in STATIC_TYPES}
