"""adbd's `reverse:` services and the connections they carry back to the host.

`adb reverse` is adb's forward in the other direction (Android's adb docs, "Set up port forwarding", and
packages/modules/adb SERVICES.TXT, `reverse:<forward-command>`): the client sends `reverse:forward:[norebind:]
LOCAL;REMOTE`, `reverse:killforward:LOCAL`, `reverse:killforward-all` or `reverse:list-forward` as a service on the
device, and adbd answers as `handle_forward_request` in adb.cpp does on the device side: one `OKAY` (the adb server
adds the connection's own), or `FAIL` + a 4-hex-digit length + the message ("cannot rebind existing socket",
"cannot bind listener: ...", "listener 'LOCAL' not found"); `list-forward` answers a length-prefixed list of
"SERIAL LOCAL REMOTE" lines; a resolved `tcp:0` is sent back as a length-prefixed port number. Once installed, a
connection to the phone's LOCAL port makes adbd OPEN a stream named REMOTE (`tcp:PORT`) towards the host, which the
adb server connects to its own localhost:PORT. Listeners belong to the connection that made them and go with it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from .device import SimDevice
from .protocol import Connection, Dropped, Stream

_ports = itertools.count(38000)


@dataclass
class ReverseRule:
    local: str  # on the phone, e.g. tcp:8000
    remote: str  # on the host, e.g. tcp:8000
    conn: Connection


def rules(device: SimDevice) -> dict[str, ReverseRule]:
    """The phone's reverse listeners by LOCAL spec (rules of dropped connections are gone, as in adbd)."""
    with device.lock:
        for local in [local for local, rule in device.reverse_rules.items() if rule.conn.dead]:
            del device.reverse_rules[local]
        return dict(device.reverse_rules)


def _okay(stream: Stream, reply: str | None = None) -> None:
    stream.write(b"OKAY" + (_protocol_string(reply) if reply is not None else b""))


def _fail(stream: Stream, message: str) -> None:
    stream.write(b"FAIL" + _protocol_string(message))


def _protocol_string(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):04x}".encode() + data


def serve(device: SimDevice, stream: Stream, command: str) -> None:
    """One `reverse:COMMAND` service request."""
    if command == "list-forward":
        listing = "".join(f"host-{id(rule.conn) % 100} {rule.local} {rule.remote}\n"
                          for rule in rules(device).values())
        stream.write(_protocol_string(listing))
    elif command == "killforward-all":
        with device.lock:
            device.reverse_rules.clear()
        _okay(stream)
    elif command.startswith("killforward:"):
        local = command[len("killforward:"):]
        with device.lock:
            removed = device.reverse_rules.pop(local, None)
        _okay(stream) if removed else _fail(stream, f"listener '{local}' not found")
    elif command.startswith("forward:"):
        _forward(device, stream, command[len("forward:"):])
    else:
        _fail(stream, f"unknown reverse command '{command}'")


def _forward(device: SimDevice, stream: Stream, spec: str) -> None:
    no_rebind = spec.startswith("norebind:")
    pieces = spec[len("norebind:"):].split(";") if no_rebind else spec.split(";")
    if len(pieces) != 2 or not all(pieces) or pieces[1].startswith("*"):
        _fail(stream, f"bad forward: {spec}")
        return
    local, remote = pieces
    if not local.startswith("tcp:") or not local[4:].isdigit():
        _fail(stream, f"cannot bind listener: sim listens on tcp:PORT only, not '{local}'")
        return
    port = int(local[4:]) or next(_ports)
    local = f"tcp:{port}"
    with device.lock:
        if port in device.busy_ports:  # another app on the phone listens there
            message = "cannot bind listener: Address already in use"
        elif local in device.reverse_rules and no_rebind:
            message = "cannot rebind existing socket"
        else:
            device.reverse_rules[local] = ReverseRule(local, remote, stream.conn)
            message = None
    if message:
        _fail(stream, message)
    else:
        _okay(stream, str(port) if pieces[0] == "tcp:0" else None)


def connect(device: SimDevice, port: int, timeout: float = 10.0) -> Stream | None:
    """What happens when an app on the phone connects to localhost:PORT: with a reverse listener there, adbd opens
    a stream to the rule's REMOTE on the host (None: connection refused, or the host refused the stream)."""
    rule = rules(device).get(f"tcp:{port}")
    if rule is None:
        return None
    try:
        return rule.conn.open_stream(rule.remote, timeout)
    except Dropped:
        return None


def http_get(device: SimDevice, port: int, path: str, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """An HTTP/1.0 GET from the phone to its own localhost:PORT: (status, body), status None when refused."""
    stream = connect(device, port, timeout)
    if stream is None:
        return None, b""
    stream.write(f"GET {path} HTTP/1.0\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode())
    response = b""
    done = threading.Event()

    def read():
        nonlocal response
        while (chunk := stream.recv()) is not None:
            response += chunk
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    stream.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    return (int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else None), body
