"""`mobikit serve` without a browser: what it serves and refuses over real HTTP, how it stops, and the phone path —
the real CLI driving the real adb client and server against the simulated phone (tests/adb_sim), whose browser
loads the page through the `adb reverse` rule the way a phone's browser reaches `http://localhost:PORT`."""

from __future__ import annotations

import json
import signal
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

from browser_support import Server
from support import assert_one_error, run_cli
from test_android_device import ADB, adb, adb_env, phone, tiny_tflite  # noqa: F401 (fixtures: adb server, phone, model)

needs_adb = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def fetch(url: str, host: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="session")
def dynamic_output(tmp_path_factory, tiny_tflite):
    """An output folder whose model has a free batch dimension (what mobikit wrote before static batch-1 models):
    test_android_device's tiny classifier, converted from a Keras model without a fixed batch."""
    from mobikit.description import ModelDescription, model_tensors
    from mobikit.preprocess import describe

    folder = tmp_path_factory.mktemp("dynamic") / "old_int8"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(tiny_tflite)
    (folder / "labels.txt").write_text("".join(f"class {i}\n" for i in range(10)))
    description = ModelDescription("old_int8", "int8", 32, 10, *model_tensors(tiny_tflite), softmax=True,
                                   size_bytes=0, sha256="", preprocessing=describe(32)).with_model(tiny_tflite)
    (folder / "model.json").write_text(json.dumps(description.to_json()))
    return folder


# --- bad input: one error line, the right exit code, nothing left listening ---------------------------------------

def test_not_an_output_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    line = assert_one_error(run_cli("serve", str(tmp_path / "photos")), 2)
    assert "not a quantize output folder" in line and "FOLDER" in line
    assert "not a folder" in assert_one_error(run_cli("serve", str(tmp_path / "missing")), 2)
    assert_one_error(run_cli("serve"), 2)


def test_a_model_the_browser_cannot_run_is_named(dynamic_output):
    line = assert_one_error(run_cli("serve", str(dynamic_output), "--port", "0"), 2)
    assert "LiteRT.js in the browser cannot run" in line and "dynamic shape" in line and "first: '" in line


def test_busy_port_and_bad_port(tiny_output):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = assert_one_error(run_cli("serve", str(tiny_output), "--port", str(port)), 1)
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port 0" in line
    assert "--port must be between 0" in assert_one_error(run_cli("serve", str(tiny_output), "--port", "70000"), 2)
    assert "--host" in assert_one_error(run_cli("serve", str(tiny_output), "--host", "no.such.host.invalid"), 2)


# --- what it serves ------------------------------------------------------------------------------------------------

def test_serves_the_page_litert_and_the_models_and_nothing_else(tiny_output):
    server = Server(str(tiny_output), str(tiny_output))
    try:
        url, port = server.url, server.session["port"]
        status, headers, body = fetch(url)
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<title>mobikit" in body
        status, headers, wasm = fetch(url + "litert/wasm/litert_wasm_compat_internal.wasm")
        assert status == 200 and headers["Content-Type"] == "application/wasm" and wasm[:4] == b"\0asm"
        listing = json.loads(fetch(url + "api/models")[2])
        model = listing["models"][0]
        names = [m["name"] for m in listing["models"]]  # the picker tells the same folder twice apart
        shown = f"{tiny_output.parent.name}/{tiny_output.name}"
        assert names == [shown, f"{shown} (2)"], names
        assert len(model["labels"]) == 1000
        assert model["preprocessing"] == json.loads((tiny_output / "model.json").read_text())["preprocessing"]
        assert fetch(url + model["model_url"].lstrip("/"))[2] == (tiny_output / "model.tflite").read_bytes()
        for path in ("models/0/model.json", "app/../../description.py", "models/2/model.tflite", "etc/passwd"):
            assert fetch(url + path)[0] == 404, path
        assert fetch(url, host="attacker.example")[0] == 421  # a DNS-rebound name cannot read the models
        for rebound in ("127.0.0.1.attacker.example", "127.evil.example", "127.0.0.1evil", f"127.0.0.1:{port}:x"):
            assert fetch(url + "api/models", host=f"{rebound}:{port}")[0] == 421, rebound  # passed before
        for loopback in ("127.0.0.1", "127.1.2.3", "localhost", "[::1]"):
            assert fetch(url + "api/models", host=f"{loopback}:{port}")[0] == 200, loopback
        for hang_up in (b"GET / HTTP/1.1\r\n", b"GET /litert/wasm/litert_wasm_compat_internal.wasm HTTP/1.1\r\n"
                        b"Host: 127.0.0.1\r\n\r\n"):  # a browser that reloads or cancels mid-request
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(hang_up)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
        assert fetch(url)[0] == 200
    finally:
        result = server.stop(signal.SIGTERM)
    assert result.returncode == 143 and "terminated" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr, result.stderr
    assert not listening(port)


def test_host_prints_the_security_warning(tiny_output):
    server = Server(str(tiny_output), "--host", "0.0.0.0")
    result = server.stop(signal.SIGINT)
    assert result.returncode == 130
    assert "anyone on the network can open the page" in result.stderr and "secure context" in result.stderr


# --- on the phone, over adb reverse --------------------------------------------------------------------------------

def reverse_list(env: dict) -> str:
    return adb(env, "reverse", "--list").stdout


@needs_adb
def test_phone_path_reverse_view_and_cleanup(tiny_output, adb_env, phone):
    server = Server(str(tiny_output), "--device", "pixel", env=adb_env)
    port = server.session["port"]
    try:
        assert server.session["phone_url"] == f"http://localhost:{port}/" and server.session["opened_on_phone"]
        assert server.session["serial"] == phone.serial and server.session["device"] == "Pixel 7"
        assert f"tcp:{port} tcp:{port}" in reverse_list(adb_env)  # the real client reads the phone's listeners
        deadline = time.monotonic() + 15
        while not phone.page_loads and time.monotonic() < deadline:
            time.sleep(0.1)
        load = phone.page_loads[0]
        assert load.url == f"http://localhost:{port}/" and load.status == 200, load
        assert b"<title>mobikit serve</title>" in load.body  # carried phone → adb → host by the reverse rule
    finally:
        result = server.stop(signal.SIGINT)
    assert result.returncode == 130, result.stderr
    assert f"tcp:{port}" not in reverse_list(adb_env) and not phone.reverse_rules
    assert not listening(port)


@needs_adb
def test_the_farms_adb_servers_are_not_used_and_a_warning_says_why(tiny_output, adb_env, phone):
    """`serve --device` silently ignored $MOBIKIT_ADB_SERVERS: it still takes the phone of this host's server (adb
    reverse reaches only the adb server's own host), and one warning line says so."""
    server = Server(str(tiny_output), "--device", "pixel", env={**adb_env, "MOBIKIT_ADB_SERVERS": "lab-1:5037"})
    try:
        assert server.session["serial"] == phone.serial and server.session["opened_on_phone"]
    finally:
        result = server.stop(signal.SIGINT)
    assert result.returncode == 130, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "MOBIKIT_ADB_SERVERS" in line]
    assert warning == ("warning: serve --device uses this host's adb server only, not $MOBIKIT_ADB_SERVERS "
                       "(lab-1:5037): adb reverse carries the phone's connections to the adb server's own host, "
                       "which must be this one")


@needs_adb
def test_no_device(tiny_output, adb_env):
    line = assert_one_error(run_cli("serve", str(tiny_output), "--port", "0", "--device", "pixel", env=adb_env), 2)
    assert "no Android device connected" in line


@needs_adb
def test_reverse_refused_leaves_nothing(tiny_output, adb_env, phone):
    port = free_port()
    phone.busy_ports.add(port)  # an app on the phone listens there already
    line = assert_one_error(run_cli("serve", str(tiny_output), "--port", str(port), "--device", "pixel",
                                    env=adb_env), 1)
    assert f"adb reverse tcp:{port} tcp:{port} was refused" in line and "Address already in use" in line
    assert not listening(port) and not phone.reverse_rules


@needs_adb
def test_a_users_own_reverse_rule_is_never_replaced(tiny_output, adb_env, phone):
    port = free_port()
    assert adb(adb_env, "reverse", f"tcp:{port}", "tcp:9").returncode == 0
    line = assert_one_error(run_cli("serve", str(tiny_output), "--port", str(port), "--device", "pixel",
                                    env=adb_env), 1)
    assert "cannot rebind existing socket" in line
    assert f"tcp:{port} tcp:9" in reverse_list(adb_env)  # still the user's, still there
    assert not listening(port)


@needs_adb
def test_phone_without_a_browser_still_serves(tiny_output, adb_env, phone):
    """...and a closed terminal (SIGHUP) still removes the reverse rule."""
    phone.browser_installed = False
    server = Server(str(tiny_output), "--device", "pixel", env=adb_env)
    port = server.session["port"]
    result = server.stop(signal.SIGHUP)
    assert server.session["opened_on_phone"] is False
    assert "could not open the browser on the phone" in result.stderr and f"http://localhost:{port}/" in result.stderr
    assert result.returncode == 129 and "hangup" in result.stderr and not phone.reverse_rules
