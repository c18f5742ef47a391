"""The network block is real: a child process's download fails at once, this process cannot connect to another
machine, and loopback (the simulated phone, local servers) still works."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from network import NetworkBlocked

WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
               "mobilenet_5_0_160_tf.h5")  # what keras would fetch for V1 α0.5@160
REMOTE = ("192.0.2.1", 443)  # TEST-NET-1: never routed, so only the guard can make the attempt fail at once


def _child(code: str, **kwargs) -> subprocess.CompletedProcess:
    # a child that waited on a real network would hit the timeout and fail the test
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, **kwargs)


def test_a_child_urllib_download_is_refused():
    result = _child(f"import urllib.request; urllib.request.urlopen({WEIGHTS_URL!r}, timeout=30)")
    assert result.returncode == 1
    assert "URLError" in result.stderr and "Connection refused" in result.stderr, result.stderr


def test_a_child_keras_download_is_refused(tmp_path):
    code = ("import keras; keras.utils.get_file('w.h5', %r, cache_dir=%r)" % (WEIGHTS_URL, str(tmp_path)))
    result = _child(code)
    assert result.returncode == 1
    assert "URL fetch failure" in result.stderr and "Connection refused" in result.stderr, result.stderr[-2000:]
    assert not list(tmp_path.rglob("w.h5"))


def test_the_block_reaches_children_that_get_a_fresh_environment_copy():
    """Children started with `env={**os.environ, ...}` (as run_cli does) inherit the proxy variables too."""
    import os

    result = _child("import urllib.request, json; print(json.dumps(urllib.request.getproxies()))",
                    env={**os.environ, "EXTRA": "1"})
    proxies = __import__("json").loads(result.stdout)
    assert proxies["https"].startswith("http://127.0.0.1:") and proxies["http"] == proxies["https"]
    assert proxies["no"] == "localhost,127.0.0.1,::1"  # loopback only: no remote host is exempt


def test_this_process_cannot_connect_to_another_machine():
    with pytest.raises(NetworkBlocked, match="tests block the network"):
        socket.create_connection(REMOTE, timeout=30)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkBlocked):
            sock.connect(("2001:db8::1", 443))
    with socket.socket() as sock:
        assert sock.connect_ex(REMOTE) != 0
    with pytest.raises(OSError):
        urllib.request.urlopen(WEIGHTS_URL, timeout=30)


def test_loopback_stays_reachable():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted = threading.Thread(target=lambda: server.accept()[0].close())
        accepted.start()
        with socket.create_connection(("localhost", port), timeout=30):
            pass
        accepted.join(timeout=30)
    # a local HTTP server is reached directly, not through the closed proxy
    import http.server

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"local")

        def log_message(self, *args):
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Hello) as server:
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=30) as response:
            assert response.read() == b"local"
        thread.join(timeout=30)
