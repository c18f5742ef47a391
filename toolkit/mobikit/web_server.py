"""The HTTP side of `mobikit serve`: a small threaded server for the page, LiteRT.js and the models' files.

Every URL it answers is in one table made at start (page files, the vendored LiteRT.js, each model's
`model.tflite`), so no request can reach another file. Requests whose Host header is not this machine's loopback
name are refused while the server listens on loopback only: a web page elsewhere cannot read the models through a
DNS-rebound name. Nothing is cached by the browser (`no-store`), so a re-quantized model shows up on reload.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from .errors import MobikitError, UsageError

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".wasm": "application/wasm",
                 ".tflite": "application/octet-stream", ".json": "application/json",
                 ".md": "text/markdown; charset=utf-8", "": "text/plain; charset=utf-8"}
PAGE_FILES = ("index.html", "app.js", "preprocess.js", "runtime.js", "style.css")
LITERT_FILES = ("core/index.js", "wasm-utils/index.js", "wasm/litert_wasm_compat_internal.js",
                "wasm/litert_wasm_compat_internal.wasm", "NOTICE.md", "LICENSE")
WASM_SCRIPT = "/litert/wasm/litert_wasm_compat_internal.js"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def web_root() -> Path:
    """The page and LiteRT.js, shipped inside the package."""
    return Path(str(resources.files("mobikit") / "web"))


@dataclass(frozen=True)
class Route:
    path: Path | None
    content_type: str
    body: bytes | None = None  # generated content (the model list) instead of a file


def routes(models_json: bytes, model_files: list[bytes]) -> dict[str, Route]:
    """Every URL the server answers: the page, LiteRT.js, the model list and each model's file (the bytes checked
    at start, so a model re-written while serving never meets the page with the old model.json's numbers)."""
    root = web_root()
    table = {"/": Route(root / "index.html", CONTENT_TYPES[".html"]),
             "/api/models": Route(None, CONTENT_TYPES[".json"], models_json)}
    for name in PAGE_FILES:
        table[f"/app/{name}"] = Route(root / name, CONTENT_TYPES[Path(name).suffix])
    for name in LITERT_FILES:
        table[f"/litert/{name}"] = Route(root / "vendor" / "litertjs" / name, CONTENT_TYPES[Path(name).suffix])
    for index, model in enumerate(model_files):
        table[f"/models/{index}/model.tflite"] = Route(None, CONTENT_TYPES[".tflite"], model)
    missing = [str(route.path) for route in table.values() if route.path is not None and not route.path.is_file()]
    if missing:
        raise MobikitError("this mobikit installation lacks the web page's files (first: {path}); reinstall mobikit",
                           path=missing[0])
    return table


class _Handler(BaseHTTPRequestHandler):
    server_version = "mobikit"
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the http.server interface)
        self._answer(send_body=True)

    def do_HEAD(self):  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        server: WebServer = self.server.owner
        if not server.host_allowed(self.headers.get("Host", "")):
            self._send(HTTPStatus.MISDIRECTED_REQUEST, b"unknown host\n", CONTENT_TYPES[""], send_body)
            return
        route = server.table.get(urlsplit(self.path).path)
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", CONTENT_TYPES[""], send_body)
            return
        try:
            body = route.body if route.body is not None else route.path.read_bytes()
        except OSError as exc:
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot read {route.path.name}: {exc.strerror}\n".encode(),
                       CONTENT_TYPES[""], send_body)
            return
        server.count_request()
        self._send(HTTPStatus.OK, body, route.content_type, send_body)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the http.server interface): requests are not logged
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, owner: "WebServer", family: int):
        self.address_family = family
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A browser that hangs up (reload, closed tab, cancelled fetch) is routine, not worth a line; anything else
        is one line on stderr, never socketserver's traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"warning: a request from {client_address[0]} failed: {type(error).__name__}: {error}",
                  file=sys.stderr)


class WebServer:
    """The listening server; `start()` binds (a busy port fails here, with one line) and serves on a thread."""

    def __init__(self, table: dict[str, Route], host: str, port: int):
        self.table, self.host, self.port = table, host, port
        self.requests = 0
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "WebServer":
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UsageError("{host} {value!r} is not an address of this machine: {reason}", "host", value=self.host,
                             reason=getattr(exc, "strerror", None) or str(exc)) from None
        family, _, _, _, address = infos[0]
        try:
            self._server = _HTTPServer(address[:2], self, family)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MobikitError("port {number} on {host} is already in use: pass {port} with another number, "
                                   "or {port} 0 for a free one", "port", number=self.port, host=self.host) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise MobikitError("not allowed to listen on port {number} (ports below 1024 need privileges): pass "
                                   "{port} with a number from 1024 up", "port", number=self.port) from None
            raise MobikitError("cannot listen on {host} port {number}: {reason}", host=self.host, number=self.port,
                               reason=exc.strerror or str(exc)) from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mobikit-serve", daemon=True)
        self._thread.start()
        return self

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")

    def host_allowed(self, header: str) -> bool:
        """While listening on loopback, only loopback names may be asked for (DNS-rebinding guard)."""
        if not self.loopback_only:
            return True
        name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        if name.lower() in LOOPBACK_NAMES:
            return True
        try:  # an IPv4 literal in 127/8; a name that only starts with "127." (127.0.0.1.evil.example) is not one
            return ipaddress.IPv4Address(name).is_loopback
        except ValueError:
            return False

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def models_json(models: list[dict]) -> bytes:
    return json.dumps({"runtime": {"name": "LiteRT.js", "version": "2.5.3", "accelerator": "wasm",
                                   "wasm_script": WASM_SCRIPT}, "models": models}).encode()
