"""The adb transport as adbd speaks it over TCP: 24-byte headers, CNXN, and streams (OPEN/OKAY/WRTE/CLSE).

One `Connection` per TCP connection from the adb server; each OPEN gets a `Stream` served on its own thread, so a
long shell command does not block a concurrent push. The device side may open streams too (`open_stream`: adbd
carrying an `adb reverse` connection to the host). A stream sends one WRTE at a time and waits for the host's
OKAY (adb's flow control); incoming WRTEs are queued and acknowledged at once.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading

A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
HEADER = struct.Struct("<6I")


def _cmd(name: str) -> int:
    return struct.unpack("<I", name.encode())[0]


CNXN, AUTH, OPEN, OKAY, WRTE, CLSE = (_cmd(n) for n in ("CNXN", "AUTH", "OPEN", "OKAY", "WRTE", "CLSE"))


class Dropped(Exception):
    """The connection is gone (closed by the host, or dropped on purpose by a fault)."""


class Stream:
    def __init__(self, conn: "Connection", local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.incoming: queue.Queue[bytes | None] = queue.Queue()
        self.acked = threading.Semaphore(0)
        self.opened = threading.Event()  # set once the host accepted a stream this side opened
        self.closed = False
        self._buffer = b""

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.conn.max_payload):
            if self.closed or self.conn.dead:
                raise Dropped("stream closed")
            self.conn.send(WRTE, self.local_id, self.remote_id, data[start:start + self.conn.max_payload])
            while not self.acked.acquire(timeout=0.5):
                if self.closed or self.conn.dead:
                    raise Dropped("stream closed while waiting for OKAY")

    def recv(self) -> bytes | None:
        """The next WRTE payload, or None once the host closed the stream."""
        data = self.incoming.get()
        if data is None:
            self.incoming.put(None)
        return data

    def read_exact(self, size: int) -> bytes:
        """Exactly `size` bytes of the stream, across WRTE boundaries (sync headers straddle them)."""
        while len(self._buffer) < size:
            chunk = self.recv()
            if chunk is None:
                raise Dropped("stream closed mid-message")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if not self.conn.dead:
                self.conn.send(CLSE, self.local_id, self.remote_id)
            self.conn.streams.pop(self.local_id, None)


class Connection:
    """One adb server connection; `serve(open_service)` runs until the socket closes."""

    def __init__(self, sock: socket.socket, banner: str):
        self.sock, self.banner = sock, banner
        self.lock = threading.Lock()
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD
        self.dead = False

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF)
        with self.lock:
            try:
                self.sock.sendall(header + data)
            except OSError:
                self.drop()
                raise Dropped("send failed") from None

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise Dropped("host closed the connection")
            data += chunk
        return data

    def drop(self) -> None:
        """Cut the TCP connection at once, like a cable pulled out."""
        self.dead = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for stream in list(self.streams.values()):
            stream.closed = True
            stream.incoming.put(None)

    def serve(self, open_service) -> None:
        try:
            while not self.dead:
                command, arg0, arg1, length, _checksum, magic = HEADER.unpack(self._read(HEADER.size))
                if magic != command ^ 0xFFFFFFFF:
                    raise Dropped("bad magic")
                data = self._read(length) if length else b""
                self._dispatch(command, arg0, arg1, data, open_service)
        except (Dropped, OSError):
            pass
        finally:
            self.drop()

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes, open_service) -> None:
        if command == CNXN:
            self.max_payload = min(MAX_PAYLOAD, arg1)
            self.send(CNXN, A_VERSION, MAX_PAYLOAD, self.banner.encode())
        elif command == OPEN:
            local_id, self.next_id = self.next_id, self.next_id + 1
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            service = data.rstrip(b"\0").decode()
            self.send(OKAY, local_id, arg0)
            threading.Thread(target=self._run_service, args=(open_service, stream, service), daemon=True).start()
        elif command == OKAY:
            stream = self.streams.get(arg1)
            if stream is not None and stream.remote_id == 0:  # the host accepted a stream we opened
                stream.remote_id = arg0
                stream.opened.set()
            elif stream is not None:
                stream.acked.release()
        elif command == WRTE:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.incoming.put(data)
                self.send(OKAY, arg1, arg0)
        elif command == CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None and not stream.closed:
                stream.closed = True
                stream.incoming.put(None)
                stream.opened.set()
                if stream.remote_id:
                    self.send(CLSE, arg1, arg0)

    def open_stream(self, service: str, timeout: float = 10.0) -> Stream:
        """Open a stream to a service on the host side, as adbd does for a connection to an `adb reverse` port:
        OPEN(local-id, 0, service); the host answers OKAY(its-id, local-id), or CLSE when it cannot connect."""
        with self.lock:
            local_id, self.next_id = self.next_id, self.next_id + 1
        stream = Stream(self, local_id, 0)
        self.streams[local_id] = stream
        self.send(OPEN, local_id, 0, service.encode() + b"\0")
        if not stream.opened.wait(timeout) or stream.closed:
            self.streams.pop(local_id, None)
            raise Dropped(f"the host refused stream {service!r}")
        return stream

    def _run_service(self, open_service, stream: Stream, service: str) -> None:
        try:
            open_service(stream, service)
        except Dropped:
            pass
        finally:
            stream.close()
