"""The network block every test runs under: no test may reach a host other than this machine.

Two layers, because most tests start the CLI as a child process that an in-process guard cannot reach:
- every child (and this process's own HTTP clients) gets proxy variables naming a loopback port that is bound and
  never listens, so urllib, keras' `get_file`, pip, requests and Chromium fail at once with "connection refused";
  NO_PROXY lists only loopback names, so the simulated phone and local servers stay reachable;
- this process's sockets refuse any connection to a non-loopback address (`guard_sockets`), whatever the client.

What the proxy layer cannot stop: a child that opens a raw socket to an IP address itself (none of mobikit's
dependencies does; the keras weight download, the one download mobikit knows of, goes through urllib).
"""

from __future__ import annotations

import errno
import ipaddress
import socket

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY")
LOOPBACK_NAMES = "localhost,127.0.0.1,::1"


def closed_port() -> tuple[socket.socket, int]:
    """A loopback TCP port that refuses every connection for as long as the returned socket stays open: bound (so no
    other process can take it) but never listening, so the kernel answers each connection attempt with a reset."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]


def offline_environment(port: int) -> dict[str, str]:
    """Proxy variables (both spellings) that send every remote request to the closed `port`; loopback goes direct."""
    proxy = f"http://127.0.0.1:{port}"
    variables = {name: proxy for name in PROXY_VARIABLES}
    variables["NO_PROXY"] = LOOPBACK_NAMES
    return {**variables, **{name.lower(): value for name, value in variables.items()}}


class NetworkBlocked(ConnectionRefusedError):
    """A connection to another machine attempted by the test process."""


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%")[0]  # an IPv6 scope
    if host in ("localhost", ""):  # "" is INADDR_ANY, which connects to this machine
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost is never resolved here: blocked
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _allowed(sock: socket.socket, address) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets, netlink: never leave the machine
    return _is_loopback(address[0])


def guard_sockets() -> None:
    """Make this process's sockets refuse connections to any non-loopback address."""
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex
    if getattr(original_connect, "network_guard", False):
        return

    def refuse(address):
        raise NetworkBlocked(errno.ECONNREFUSED, f"tests block the network: connection to {address!r} refused")

    def connect(self, address):
        if not _allowed(self, address):
            refuse(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        if not _allowed(self, address):
            return errno.ECONNREFUSED
        return original_connect_ex(self, address)

    connect.network_guard = True
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
