"""Several phones on several hosts: adb servers, the listing across them, the choice of phones, and one run per phone
in parallel.

adb is the farm engine: each host runs its own adb server (`adb -a -P PORT nodaemon server`), and mobikit reaches it
with adb's own client flags `-H HOST -P PORT` — no transport of mobikit's own. An adb server is unauthenticated:
whoever reaches its port controls every phone on it, so servers belong on trusted networks only. Servers come from
`--adb-server HOST:PORT` (repeatable), else `$MOBIKIT_ADB_SERVERS` (comma-separated), else the local server adb
itself starts (named `local`); one server under two names (`127.0.0.1:5037`, `localhost:5037`) is asked once. A
server that cannot be reached is one entry with its error, never the failure of the whole listing. Each phone is driven by the single-phone functions (deploy.py, device_bench.py) in its own thread, one
run per phone at a time; a stop kills every adb process of every thread (`adb.end_running`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import MobikitError, UsageError, echoed, first_line, one_line, printable
from ..progress import Reporter
from ..runtime import stop_deferred, stoppable_wait
from .adb import (LISTING_TIMEOUT, OFFLINE_FIX, UNAUTHORIZED_FIX, Adb, Device, DeviceUnavailable, NoSuchDevice,
                  end_running, named, resume_running)

SERVERS_ENV = "MOBIKIT_ADB_SERVERS"
LOCAL = "local"  # the name of adb's own default server (ANDROID_ADB_SERVER_PORT or 5037 on this host)
ALL = "all"
STOP_GRACE = 15.0  # seconds a stopped run waits for its phone threads (their adb processes are killed first)


@dataclass(frozen=True)
class Server:
    """One adb server: `name` as the user wrote it (`HOST:PORT`, or `local`) and where adb's `-H/-P` point."""

    name: str
    address: tuple[str, int] | None = None  # None: adb's default server, reached the way adb itself chooses
    aliases: tuple[str, ...] = ()  # the other names given for this same server (merged), each accepted in SERVER/SERIAL

    @property
    def names(self) -> set[str]:
        return {self.name, *self.aliases}


def parse_server(spec: str) -> Server:
    """`HOST:PORT` (an IPv6 address in brackets: `[::1]:5037`) → Server; anything else is a usage error."""
    match = re.fullmatch(r"\s*(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\s*", spec)
    port = int(match.group(2)) if match else 0
    if not match or not 0 < port < 65536:
        raise UsageError("{adb_server} takes HOST:PORT (an adb server started with 'adb -a -P PORT nodaemon "
                         "server' on HOST), got '{value}'", "adb_server", value=echoed(spec))
    host = match.group(1).strip("[]")
    return Server(f"{match.group(1)}:{port}", (host, port))


def adb_servers(given: Sequence[str] = (), reporter: Reporter | None = None) -> list[Server]:
    """The servers of this run: `given`, else $MOBIKIT_ADB_SERVERS, else the local default server. A server named
    twice (`127.0.0.1:5037` and `localhost:5037`) is asked once, under its first name, and `reporter` says so."""
    if given:
        return _distinct([parse_server(spec) for spec in given], reporter)
    value, servers = os.environ.get(SERVERS_ENV, ""), []
    for part in [part for part in value.split(",") if part.strip()] or ([value] if value else []):
        try:
            servers.append(parse_server(part))
        except UsageError:  # also a variable of blanks or commas alone, as `--adb-server ' '` is
            raise UsageError(f"${SERVERS_ENV} takes HOST:PORT entries separated by commas, got "
                             f"'{echoed(part)}'") from None
    return _distinct(servers, reporter) or [Server(LOCAL)]


def _distinct(servers: list[Server], reporter: Reporter | None) -> list[Server]:
    """One entry per adb server: names whose addresses resolve to a common one (and port) are the same server,
    whose phones would otherwise each run twice, racing with themselves."""
    kept: list[tuple[Server, set]] = []
    for server in servers:
        addresses = _resolved(server)
        index = next((i for i, (_, known) in enumerate(kept) if known & addresses), None)
        if index is None:
            kept.append((server, addresses))
            continue
        same = kept[index][0]
        if server.name not in same.names:
            kept[index] = (_merged(same, server), kept[index][1] | addresses)
            if reporter is not None:
                reporter.warn(f"{printable(server.name)} is the adb server {printable(same.name)} again: its phones "
                              "run once")
    return [server for server, _ in kept]


def _merged(first: Server, again: Server) -> Server:
    """`first` (its name wins) also answering to `again`'s names."""
    return Server(first.name, first.address, first.aliases + tuple(n for n in again.names if n not in first.names))


def _resolved(server: Server) -> set:
    """(address, port) pairs a server's host resolves to; its name alone when it does not resolve (its listing then
    says why)."""
    import socket

    host, port = server.address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return {(host.lower(), port)}
    return {(info[4][0], port) for info in infos} or {(host.lower(), port)}


@dataclass
class ServerListing:
    """What one server answered: its devices, or the error that kept it from answering."""

    server: Server
    devices: list[Device] = field(default_factory=list)
    error: str | None = None
    adb: Adb | None = None

    def to_json(self) -> list[dict]:
        """Rows of `mobikit devices --json`: one per device, or one carrying the server's error."""
        if self.error is not None:
            return [{"server": self.server.name, **{key: None for key in Device.__dataclass_fields__},
                     "state": "unreachable", "error": self.error}]
        return [{"server": self.server.name, **device.to_json(), "error": None} for device in self.devices]


def list_devices(servers: Sequence[str | Server] = (), adb: str | os.PathLike | None = None,
                 reporter: Reporter | None = None, timeout: float = LISTING_TIMEOUT) -> list[ServerListing]:
    """Every device on every server (`HOST:PORT`; default as `adb_servers`), the servers asked in parallel; an
    unreachable server keeps its error. Servers that list the very same phones (one server reached through two
    names that resolve apart: 127.0.0.1 and 127.0.0.2, ::1 and 127.0.0.1) are one listing, under the first name
    given, and `reporter` says so. `timeout` bounds each server's answer (deploy's --timeout when shorter)."""
    servers = [server if isinstance(server, Server) else parse_server(server) for server in servers] or adb_servers()
    client = Adb(adb)  # a missing adb binary is one error for the whole run, before any server is asked

    def ask(server: Server) -> ServerListing:
        on_server = Adb(client.path, server=server.address, timeout=timeout)
        return ServerListing(server, on_server.devices(), adb=on_server)

    outcomes = in_parallel(list(servers), ask)
    listings = [outcome if error is None else ServerListing(server, error=error)
                for server, (outcome, error) in zip(servers, outcomes)]
    return _same_phones_once(listings, reporter)


def _same_phones_once(listings: list[ServerListing], reporter: Reporter | None) -> list[ServerListing]:
    kept: list[ServerListing] = []
    for listing in listings:
        serials = {device.serial for device in listing.devices}
        same = next((i for i, known in enumerate(kept) if serials and known.error is None and
                     {device.serial for device in known.devices} == serials), None)
        if listing.error is not None or same is None:
            kept.append(listing)
            continue
        first = kept[same]
        kept[same] = ServerListing(_merged(first.server, listing.server), first.devices, adb=first.adb)
        if reporter is not None:
            reporter.warn(f"{printable(listing.server.name)} lists the same phones as the adb server "
                          f"{printable(first.server.name)}: taken as that server again, its phones run once")
    return kept


@dataclass
class Target:
    """A phone a run was asked for: where it is, and the error that already keeps it from running (an unreachable
    server, an unauthorized or offline phone), if any."""

    server: str
    serial: str | None
    device: Device | None = None
    adb: Adb | None = None  # bound to the server and the serial
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.server}/{self.serial}" if self.serial else self.server

    @property
    def name(self) -> str:
        return self.device.name if self.device else self.where


def one_phone(servers: Sequence[Server], spec: str | None, adb: str | os.PathLike | None,
              reporter: Reporter | None = None,
              timeout: float = LISTING_TIMEOUT) -> tuple[str | os.PathLike | Adb | None, str | None]:
    """The (adb, device) to hand a single-phone function: unchanged on the local server alone, else the one phone
    `spec` names across the servers, bound to its server."""
    check_not_empty(spec)
    if spec is None:
        serial_from_env()  # --device wins over the variable, as adb's -s does
    if list(servers) == [Server(LOCAL)]:
        return adb, spec
    if is_several(spec):
        raise UsageError("{device} names one phone here (several: 'mobikit bench' and 'mobikit deploy')", "device")
    (phone,) = choose(list_devices(servers, adb, reporter, timeout), spec, reporter)
    if phone.error is not None:
        raise DeviceUnavailable(phone.error)
    return phone.adb, phone.serial


def check_not_empty(spec: str | None) -> None:
    """`--device ' '` or `--device ,,` names no phone: a usage error, not a choice of the only phone."""
    if spec is not None and not spec.replace(",", "").strip():
        raise UsageError("{device} is empty ({value!r}): pass a serial, SERVER/SERIAL, a model name or 'all'",
                         "device", value=spec)


def serial_from_env() -> str | None:
    """$ANDROID_SERIAL names one phone, as adb reads it (a serial, or here also SERVER/SERIAL or a model name);
    `all` or a list there is a usage error: several phones are asked for with `--device`."""
    value = os.environ.get("ANDROID_SERIAL", "").strip() or None
    if is_several(value):
        raise UsageError("$ANDROID_SERIAL names one phone, as adb reads it, got '{value}': for several pass "
                         "{device} all or a comma-separated list", "device", value=echoed(value))
    return value


def is_several(spec: str | None) -> bool:
    """Whether `--device` asks for several phones (`all`, or a comma-separated list)."""
    return spec is not None and (spec.strip().lower() == ALL or "," in spec)


def check_answered(listings: Sequence[ServerListing]) -> None:
    """No adb server answered: a runtime error (exit 1) naming each server and why — never "no device matches", which
    would blame the user's `--device` for a dead server (`devices`, `deploy` and `bench` alike)."""
    if all(listing.error is not None for listing in listings):
        raise MobikitError("no adb server answered: " + "; ".join(f"{l.server.name}: {l.error}" for l in listings))


def choose(listings: Sequence[ServerListing], spec: str | None, reporter: Reporter | None = None) -> list[Target]:
    """The phones `spec` names: each comma-separated part is `all`, a serial, `SERVER/SERIAL` or a case-insensitive
    part of the model name, and must name one phone (or, `all`, every one); without a spec, $ANDROID_SERIAL or the
    only phone. A part naming none or several is a usage error listing the candidates (and the servers that did not
    answer); no server answering is a runtime error (`check_answered`). Without `all`, a server that did not answer
    while others did is one warning on `reporter` (with `all` it is a row of its own)."""
    check_not_empty(spec)
    check_answered(listings)
    found = [(listing, device) for listing in listings for device in listing.devices]
    unreachable = "; ".join(f"{l.server.name} ({l.error})" for l in listings if l.error)
    listing_text = "; ".join(f"{listing.server.name}/{device.describe()}" for listing, device in found) or "none"
    listing_text += f"; did not answer: {unreachable}" if unreachable else ""
    parts = [part.strip() for part in spec.split(",") if part.strip()] if spec else \
        [part for part in [serial_from_env()] if part]
    if reporter is not None and ALL not in {part.lower() for part in parts} and \
            any(listing.error is None for listing in listings):
        for listing in listings:
            if listing.error is not None:
                reporter.warn(f"adb server {printable(listing.server.name)} did not answer: {listing.error}")
    if not parts:
        if len(found) != 1:
            if not found:
                raise NoSuchDevice("no Android device connected" + (
                    f"; did not answer: {unreachable}" if unreachable else
                    " (check the cable and USB debugging, then 'mobikit devices')"))
            raise NoSuchDevice("{count} devices are connected: {listing} — pass {device} SERIAL, SERVER/SERIAL, a "
                               "model name or 'all'", "device", count=len(found), listing=listing_text)
        parts = [f"{found[0][0].server.name}/{found[0][1].serial}"]
    chosen: dict[tuple[str, str], Target] = {}
    for part in parts:
        if part.lower() == ALL:
            for listing in listings:
                if listing.error is not None:
                    chosen.setdefault((listing.server.name, ""), Target(listing.server.name, None,
                                                                        error=f"adb server unreachable: "
                                                                              f"{listing.error}"))
            matches = found
        else:
            matches = _matching(found, listings, part)
            if len(matches) != 1:
                names = "; ".join(f"{l.server.name}/{d.describe()}" for l, d in matches)
                raise NoSuchDevice(f"'{echoed(part)}' matches {len(matches)} devices: {names} — name one as "
                                   "SERVER/SERIAL" if matches else
                                   f"no device matches '{echoed(part)}'; connected: {listing_text}")
        for listing, device in matches:
            chosen.setdefault((listing.server.name, device.serial), _target(listing, device))
    if not chosen:
        raise NoSuchDevice("no Android device connected to " + ", ".join(l.server.name for l in listings))
    return list(chosen.values())


def _matching(found, listings, part: str) -> list:
    server, slash, serial = part.partition("/")  # server names hold no "/"
    if slash and any(server in listing.server.names for listing in listings):
        return [(l, d) for l, d in found if server in l.server.names and d.serial == serial]
    return named(found, part, device=lambda pair: pair[1])


def _target(listing: ServerListing, device: Device) -> Target:
    target = Target(listing.server.name, device.serial, device, listing.adb.on(device.serial))
    if device.state != "device":
        fix = UNAUTHORIZED_FIX if device.state == "unauthorized" else OFFLINE_FIX
        target.error = f"device {device.serial} is {device.state}: {fix}"
    return target


class PhoneReporter(Reporter):
    """One phone's notes, each line prefixed with the phone, on the run's reporter (threads share it)."""

    def __init__(self, parent: Reporter, target: Target):
        super().__init__()
        self.parent, self.prefix = parent, f"{target.name} ({target.where})"

    def info(self, message: str) -> None:
        self.parent.info(f"{self.prefix}: {message}")

    def warn(self, message: str) -> None:
        self.parent.warn(f"{self.prefix}: {message}")


STOPPED = "stopped"  # the outcome of a phone's run that a stop cut off


def in_parallel(items: list, work: Callable, on_done: Callable[[object, tuple], None] | None = None,
                ) -> list[tuple[object, str | None]]:
    """`work(item)` for every item, each in its own thread: (result, None) or (None, the error's one line), in
    order; `on_done(item, outcome)` as each ends before a stop (what a caller shows when a stop cuts the rest off:
    errors that the stop's own killing of adb causes are not outcomes). A stop (Ctrl-C, a signal) kills every adb
    process the threads run, waits for them briefly, and re-raises."""
    outcomes: list = [(None, "not run")] * len(items)
    stopping = threading.Event()
    # Each thread's own end, not Thread.join/is_alive: a KeyboardInterrupt that lands in `join` makes CPython (3.11)
    # take the joined thread for ended while it still runs, so the grace wait skipped it and the process exited
    # before that phone's clean-up (its run folder, its upload folder) had run.
    ended = [threading.Event() for _ in items]

    def run(index: int, item) -> None:
        try:
            outcomes[index] = (work(item), None)
        except MobikitError as exc:
            outcomes[index] = (None, one_line(str(exc)))
        except BaseException as exc:  # noqa: B036 — a stop inside a thread ends that thread's run, nothing more
            outcomes[index] = (None, STOPPED if isinstance(exc, KeyboardInterrupt) else first_line(exc))
        finally:
            ended[index].set()
        if on_done and not stopping.is_set():
            on_done(item, outcomes[index])

    threads = [threading.Thread(target=run, args=(index, item), daemon=True) for index, item in enumerate(items)]
    resume_running()
    try:
        with stop_deferred():  # Thread.start waits on an Event too: a stop is acted on once every thread runs
            for thread in threads:
                thread.start()
        for done in ended:
            while not stoppable_wait(done, 0.2):
                pass
    except BaseException:
        stopping.set()
        end_running()
        deadline = time.monotonic() + STOP_GRACE
        for done in ended:
            done.wait(max(0.0, deadline - time.monotonic()))
        raise
    return outcomes


def run_on_phones(targets: Sequence[Target], work: Callable[[Target, Reporter], object], reporter: Reporter,
                  finished: dict | None = None) -> list[tuple[Target, object, str | None]]:
    """`work(target, reporter)` on every phone that can run, in parallel; (target, result, error) per phone.
    `finished` gets id(target) → (result, error) of each phone as it ends, so a stop can still show them."""
    runnable = [t for t in targets if t.error is None]
    done = None if finished is None else (lambda target, outcome: finished.__setitem__(id(target), outcome))
    outcomes = dict(zip(map(id, runnable), in_parallel(runnable, lambda t: work(t, PhoneReporter(reporter, t)),
                                                       done)))
    return [(t, *outcomes[id(t)]) if t.error is None else (t, None, t.error) for t in targets]


def failure_summary(failed: Sequence[tuple[str, str | None]], every: Sequence[tuple[str, str | None]]) -> str:
    """"1 of 4 phones failed and 1 adb server was unreachable": (server, serial) pairs, serial None for a server
    that answered no listing — a server is never counted as a phone."""
    phones = {key for key in every if key[1]}
    failed_phones = {key for key in failed if key[1]}
    servers = {server for server, serial in failed if not serial}
    parts = [f"{len(failed_phones)} of {len(phones)} phone{'s' if len(phones) != 1 else ''} failed"] \
        if failed_phones or not servers else []
    if servers:
        parts.append(f"{len(servers)} adb server{' was' if len(servers) == 1 else 's were'} unreachable")
    return " and ".join(parts)
