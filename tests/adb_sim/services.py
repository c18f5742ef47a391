"""adbd's services on a stream: `shell[,v2,...]:CMD`, `exec:CMD`, `sync:` (push/pull/stat/list) and `reverse:`
(tests/adb_sim/reverse).

Shell protocol v2 frames every packet as id (1 byte) + LE u32 length + data: 1 stdout, 2 stderr, 3 exit status.
Sync requests are a 4-byte id + LE u32 length; STA2/LIS2 answer with the 72-byte stat_v2 struct.
"""

from __future__ import annotations

import errno
import os
import struct

from . import logcat
from .device import DeviceFsError, SimDevice
from . import reverse
from .protocol import Dropped, Stream
from .shell import run_command, run_interrupted

SYNC_DATA_MAX = 64 * 1024
STAT_V1 = struct.Struct("<4sIII")
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4sIIII")
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
SHELL_UID = 2000


def open_service(device: SimDevice, stream: Stream, service: str) -> None:
    if service.startswith("shell") and ":" in service:
        options, command = service.split(":", 1)
        _shell(device, stream, command, v2="v2" in options.split(","))
    elif service.startswith("exec:"):
        _, out, _ = run_command(device, service[5:])
        stream.write(out)
    elif service == "sync:":
        _sync(device, stream)
    elif service.startswith("reverse:"):
        reverse.serve(device, stream, service[len("reverse:"):])
    else:
        stream.write(f"FAIL: sim does not offer service '{service}'".encode())


def _shell(device: SimDevice, stream: Stream, command: str, v2: bool) -> None:
    logcat.watch(stream)  # a waiting logcat ends when the host closes this stream
    drop = device.faults.take_shell_drop(command)
    if drop is not None:
        if drop.when == "after":
            run_command(device, command)
        elif drop.when == "during":
            run_interrupted(device, command)
        device.pull_cable(stream.conn, drop.back_after)
        raise Dropped(f"fault: connection dropped {drop.when} {command!r}")
    if not command.strip():
        code, out, err = 1, b"", b"sim: interactive shells are not supported\n"
    else:
        code, out, err = run_command(device, command)
    if not v2:
        stream.write(out + err)
        return
    packets = b""
    for ident, data in ((1, out), (2, err)):
        if data:
            packets += struct.pack("<BI", ident, len(data)) + data
    stream.write(packets + struct.pack("<BIB", 3, 1, code & 0xFF))


def _stat_fields(device: SimDevice, path: str) -> tuple[int, os.stat_result | None]:
    try:
        return 0, os.stat(device.host_path(path))
    except FileNotFoundError:
        return errno.ENOENT, None
    except NotADirectoryError:
        return errno.ENOTDIR, None


def _v2(ident: bytes, error: int, st: os.stat_result | None) -> bytes:
    if st is None:
        return STAT_V2.pack(ident, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return STAT_V2.pack(ident, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, SHELL_UID, SHELL_UID,
                        st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def _sync(device: SimDevice, stream: Stream) -> None:
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if ident == b"QUIT":
            return
        path = stream.read_exact(length).decode()
        if ident in (b"STA2", b"LST2"):
            error, st = _stat_fields(device, path)
            stream.write(_v2(ident, error, st))
        elif ident == b"STAT":
            _, st = _stat_fields(device, path)
            stream.write(STAT_V1.pack(b"STAT", st.st_mode, st.st_size, int(st.st_mtime)) if st
                         else STAT_V1.pack(b"STAT", 0, 0, 0))
        elif ident in (b"LIST", b"LIS2"):
            _list(device, stream, path, v2=ident == b"LIS2")
        elif ident == b"RECV":
            _recv(device, stream, path)
        elif ident == b"SEND":
            _send(device, stream, path)
        else:
            _fail(stream, f"unknown sync request {ident!r}")
            return


def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.write(b"FAIL" + struct.pack("<I", len(data)) + data)


def _list(device: SimDevice, stream: Stream, path: str, v2: bool) -> None:
    folder = device.host_path(path)
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    out = b""
    for name in [".", ".."] + names:
        st = os.stat(folder / name)
        raw = name.encode()
        if v2:
            out += DENT_V2.pack(b"DNT2", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, SHELL_UID, SHELL_UID,
                                st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime), len(raw)) + raw
        else:
            out += DENT_V1.pack(b"DENT", st.st_mode, st.st_size, int(st.st_mtime), len(raw)) + raw
    done = DENT_V2.pack(b"DONE", *([0] * 12)) if v2 else DENT_V1.pack(b"DONE", 0, 0, 0, 0)
    stream.write(out + done)


def _recv(device: SimDevice, stream: Stream, path: str) -> None:
    target = device.host_path(path)
    if not target.is_file():
        _fail(stream, f"remote open failed: {'Is a directory' if target.is_dir() else 'No such file or directory'}")
        return
    data = target.read_bytes()
    out = b""
    for start in range(0, len(data), SYNC_DATA_MAX):
        chunk = data[start:start + SYNC_DATA_MAX]
        out += b"DATA" + struct.pack("<I", len(chunk)) + chunk
    stream.write(out + b"DONE" + struct.pack("<I", 0))


def _send(device: SimDevice, stream: Stream, spec: str) -> None:
    """SEND "path,mode": DATA chunks then DONE(mtime); the file appears only when complete, like adbd."""
    path, _, mode = spec.rpartition(",")
    name = path.rsplit("/", 1)[-1]
    received, refused = bytearray(), None
    try:
        device.check_writable(path)
    except DeviceFsError:
        refused = "secure_mkdirs failed: Operation not permitted"
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if ident == b"DONE":
            break
        if ident != b"DATA":
            raise Dropped(f"unexpected {ident!r} in SEND")
        received += stream.read_exact(length)
        drop = device.faults.drop_push
        if drop and drop[0] == name and len(received) >= drop[1]:
            device.faults.drop_push = None
            device.pull_cable(stream.conn)
            raise Dropped("fault: connection dropped mid-push")
    if refused:
        _fail(stream, refused)
        return
    if device.faults.corrupt_push == name and received:
        device.faults.corrupt_push = None
        received[len(received) // 2] ^= 0xFF
    target = device.host_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.sync-tmp")
    partial.write_bytes(bytes(received))
    partial.chmod(int(mode or "420") & 0o777)
    os.replace(partial, target)
    stream.write(b"OKAY" + struct.pack("<I", 0))
