"""The platform-tools `adb` binary, driven with subprocess, and the choice of a device.

adb is never run through a host shell. Everything sent to the device shell is quoted with `shlex.quote`, because
`adb shell` joins its arguments with spaces and the device shell splits them again. Every call has a timeout, and
every failure becomes a typed error carrying adb's own message. adb itself reads `ANDROID_SERIAL` and
`ANDROID_ADB_SERVER_PORT` from the environment, which is passed through unchanged. An `Adb` given a server
(`HOST:PORT`) reaches it with adb's own `-H HOST -P PORT`. The adb processes of every thread are known, so a stopped
run that drives several phones at once ends them all (`end_running`).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import MobikitError, UsageError, printable
from ..runtime import outer_environment

DEFAULT_TIMEOUT = 60.0
TRANSFER_RATE = 2e6  # bytes/s a transfer is allowed at its slowest (adb over Wi-Fi); a pulled cable is noticed then


LISTING_TIMEOUT = 30.0  # `adb devices -l` and `getprop`: at most this, or the client's own bound when shorter


def transfer_timeout(size_bytes: int, base: float = DEFAULT_TIMEOUT / 2) -> float:
    """How long an install or push of `size_bytes` may take before the connection counts as cut: `base` seconds
    (a verb's --timeout), plus the time the bytes take at the slowest rate allowed."""
    return base + size_bytes / TRANSFER_RATE


MAX_TIMEOUT = 24 * 3600  # a day: longer waits overflow the OS's timers (1e7 s did, after deploy had switched the app)


def check_timeout(value: float, param: str = "timeout") -> float:
    """A waiting time given by the user: seconds in (0, a day] (nan would wait forever, huge ones overflow)."""
    import math

    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
            or value > MAX_TIMEOUT):
        raise UsageError("{%s} takes a number of seconds > 0 and at most %d (a day), got {value}"
                         % (param, MAX_TIMEOUT), param, value=value)
    return float(value)


HOST = "host"
UNAUTHORIZED_FIX = "accept the 'Allow USB debugging?' prompt on the phone (tick 'Always allow'), then retry"
OFFLINE_FIX = "reconnect the cable or run 'adb reconnect' (for Wi-Fi: 'adb connect HOST:PORT'), then retry"


class AdbError(MobikitError):
    """adb or a command on the device failed; the message ends with what adb or the device printed."""

    def __init__(self, message: str, stderr: str = ""):
        self.stderr = stderr.strip()
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        detail = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
        detail = re.sub(r"^(adb: )?error: ", "", detail)
        super().__init__(f"{message}: {detail}" if detail else message)


class AdbNotFound(MobikitError):
    """No adb binary where we looked."""


class AdbTimeout(AdbError):
    """adb did not finish in time (device hung, or a prompt waits on the phone)."""


class DeviceUnavailable(MobikitError):
    """The chosen device is connected but unauthorized or offline."""


class NoSuchDevice(UsageError):
    """`--device` matched no device, or more than one."""


class ShellError(AdbError):
    """A device-shell command exited non-zero."""

    def __init__(self, command: str, status: int, stdout: str, stderr: str):
        self.status = status  # the device command's; mobikit itself exits 1 (MobikitError.exit_code)
        self.stdout = stdout
        super().__init__(f"'{command}' failed on the device (exit {status})", stderr or stdout)


@dataclass(frozen=True)
class ShellResult:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Device:
    """One line of `mobikit devices`; properties are None when the device cannot be asked (unauthorized/offline)."""

    serial: str
    state: str
    model: str | None = None
    android: str | None = None
    sdk: int | None = None
    abi: str | None = None
    soc: str | None = None

    @property
    def name(self) -> str:
        """What results call the device: its model name, else its serial."""
        return self.model or self.serial

    def describe(self) -> str:
        if self.state != "device":
            return f"{self.serial} ({self.state})"
        return f"{self.serial} ({self.model or 'unknown model'}, Android {self.android or '?'})"

    def to_json(self) -> dict:
        return asdict(self)


def find_adb(explicit: str | os.PathLike | None = None) -> str:
    """`--adb`, then `$ADB`, then `$ANDROID_HOME/platform-tools/adb`, then PATH; an explicit choice must exist."""
    for origin, value in (("adb", explicit), ("$ADB", os.environ.get("ADB"))):
        if value:
            path = Path(value).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            found = shutil.which(str(value))
            if found:
                return found
            if origin == "adb":
                raise AdbNotFound("adb not found at {path} (from {adb})", "adb", path=str(value))
            raise AdbNotFound("adb not found at {path} (from {origin})", path=str(value), origin=origin)
    for home in (os.environ.get("ANDROID_HOME"), os.environ.get("ANDROID_SDK_ROOT")):
        if home:
            candidate = Path(home) / "platform-tools" / "adb"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("adb")
    if found:
        return found
    raise AdbNotFound("adb not found: install Android platform-tools (Debian/Ubuntu: apt-get install adb), "
                      "or pass {adb} PATH, set $ADB, or set $ANDROID_HOME", "adb")


# A terminal's Ctrl-C (and a hang-up) signals its whole foreground process group. An adb client in that group died of
# it before mobikit had recorded the stop, and its death read as the phone's own failure ("no output", "exit -2");
# in a group of its own it runs on until mobikit, stopping, ends it (`end_running`, or the call's own clean-up).
_OWN_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
_running: set[subprocess.Popen] = set()  # the adb processes of every thread, for `end_running`
_running_lock = threading.Lock()
_ending = threading.Event()  # set by `end_running`: what the threads still run is clean-up, and short
ENDING_TIMEOUT = 5.0  # seconds an adb call may take once the run is ending


def end_running() -> None:
    """Kill every adb process still running (a stopped run that drove phones from several threads); from now on
    each new one (a thread's clean-up, or a wait it started just before it noticed) is ended within ENDING_TIMEOUT,
    so none outlives the run's grace period."""
    _ending.set()
    with _running_lock:
        for process in _running:
            process.kill()


def resume_running() -> None:
    """A new run of several phones: adb calls get their full time again."""
    _ending.clear()


class Adb:
    """One adb binary, optionally bound to one adb server (`-H HOST -P PORT`) and to one device serial (`-s`)."""

    def __init__(self, path: str | os.PathLike | None = None, serial: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, server: tuple[str, int] | None = None):
        self.path = find_adb(path)
        self.serial = serial
        self.timeout = timeout
        self.server = server

    def on(self, serial: str) -> "Adb":
        """The same adb, bound to one device."""
        bound = copy.copy(self)
        bound.serial = serial
        return bound

    def within(self, timeout: float) -> "Adb":
        """The same adb, each call bounded by `timeout` seconds unless it names a bound of its own (a transfer's
        grows with its size, `transfer_timeout`): a verb's --timeout, for every call the verb makes."""
        bound = copy.copy(self)
        bound.timeout = timeout
        return bound

    def run(self, *args: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run `adb [-H HOST -P PORT] [-s SERIAL] ARGS` (no shell, stdin closed so adb never waits on the terminal)."""
        server = ["-H", host_argument(self.server[0]), "-P", str(self.server[1])] if self.server else []
        argv = [self.path, *server, *(["-s", self.serial] if self.serial else []), *args]
        limit = self.timeout if timeout is None else timeout
        if _ending.is_set():
            limit = min(limit, ENDING_TIMEOUT)
        try:
            with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, errors="replace", env=outer_environment(), **_OWN_GROUP) as process:
                with _running_lock:
                    _running.add(process)
                try:
                    stdout, stderr = process.communicate(timeout=limit)
                except BaseException:  # timed out or stopped: adb must not outlive the call
                    process.kill()
                    stdout, stderr = process.communicate()
                    raise
                finally:
                    with _running_lock:
                        _running.discard(process)
            result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            raise AdbTimeout(f"adb {' '.join(args)[:60]} timed out after {limit:g} s", stderr) from None
        except OSError as exc:
            raise AdbNotFound(f"cannot run adb at {self.path}: {exc.strerror}") from None
        if check and result.returncode != 0:
            raise AdbError(f"adb {args[0]} failed", f"{result.stdout}\n{result.stderr}")
        return result

    def shell(self, *argv: str, timeout: float | None = None, check: bool = True) -> ShellResult:
        """Run one command on the device; each word is quoted, so spaces and quotes reach it unchanged."""
        command = " ".join(shlex.quote(str(word)) for word in argv)
        result = self.run("shell", command, timeout=timeout, check=False)
        if result.returncode != 0 and is_transport_error(result.stderr):
            raise AdbError(f"'adb shell {argv[0]}' failed", result.stderr)
        if check and result.returncode != 0:
            raise ShellError(command[:80], result.returncode, result.stdout, result.stderr)
        return ShellResult(result.returncode, result.stdout, result.stderr)

    def push(self, local: list[str | os.PathLike], remote: str, timeout: float | None = None) -> None:
        """`adb push` (sync protocol: remote paths are not shell-parsed, so they need no quoting)."""
        self.run("push", *map(str, local), remote, timeout=timeout)

    def pull(self, remote: str, local: str | os.PathLike, timeout: float | None = None) -> None:
        self.run("pull", remote, str(local), timeout=timeout)

    def devices(self) -> list[Device]:
        """Every device the adb server knows, with properties for those that answer."""
        listing = self.run("devices", "-l", timeout=min(LISTING_TIMEOUT, self.timeout))
        devices = []
        for line in listing.stdout.splitlines():
            parts = line.split()
            if len(parts) < 2 or line.startswith(("List of devices", "*")):
                continue
            serial, state = parts[0], parts[1]
            devices.append(self.on(serial).describe_device(state) if state == "device" else Device(serial, state))
        return devices

    def describe_device(self, state: str = "device") -> Device:
        props = self.getprops()
        sdk = props.get("ro.build.version.sdk", "")
        return Device(self.serial or "", state, props.get("ro.product.model") or None,
                      props.get("ro.build.version.release") or None, int(sdk) if sdk.isdigit() else None,
                      props.get("ro.product.cpu.abi") or None, props.get("ro.soc.model") or None)

    def getprops(self) -> dict[str, str]:
        """All system properties in one round trip (`getprop` prints `[key]: [value]` lines)."""
        output = self.shell("getprop", timeout=min(LISTING_TIMEOUT, self.timeout)).stdout
        return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", output, re.MULTILINE))


def host_argument(host: str) -> str:
    """A host as adb's `-H` takes it: an IPv6 address in brackets (adb reads `-H ::1` as host `:` and port `:1`)."""
    return f"[{host}]" if ":" in host else host


def is_transport_error(stderr: str) -> bool:
    """adb's own failures (device gone, unauthorized) as opposed to a command's exit status."""
    return bool(re.search(r"^(adb: |error: )(device|no devices|more than one|closed|protocol fault)",
                          stderr, re.MULTILINE))


def select_device(adb: Adb, spec: str | None) -> tuple[Adb, Device]:
    """Resolve `--device` (serial, case-insensitive model substring; default $ANDROID_SERIAL or the only device)."""
    if spec is not None and spec.lower() == HOST:
        raise UsageError("this command needs a phone: pass {device} SERIAL or a model name such as 'pixel'",
                         "device")
    spec = spec or os.environ.get("ANDROID_SERIAL") or None
    devices = adb.devices()
    matches = devices if spec is None else named(devices, spec)
    listing = "; ".join(d.describe() for d in devices) or "none"
    if not devices:
        raise NoSuchDevice("no Android device connected (check the cable and USB debugging, then 'mobikit devices')")
    if not matches:
        hint = f" ({_fix_hint(devices)})" if any(d.state != "device" for d in devices) else ""
        raise NoSuchDevice(f"no device matches '{printable(spec)}'; connected: {listing}{hint}")
    if len(matches) > 1:
        what = f"'{printable(spec)}' matches" if spec else "several devices are connected:"
        raise NoSuchDevice("{what} {count} devices: {listing} — pass {device} SERIAL", "device", what=what,
                           count=len(matches), listing="; ".join(d.describe() for d in matches))
    device = matches[0]
    if device.state != "device":
        raise DeviceUnavailable(f"device {device.serial} is {device.state}: {_fix_hint([device])}")
    return adb.on(device.serial), device


def named(items: list, spec: str, device=lambda item: item) -> list:
    """The items whose device (`device(item)`) `spec` names: its serial; else its model name, case-insensitive and
    without the spaces around it (`pixel 7` is the Pixel 7, not also the Pixel 7 Pro); else a part of that name."""
    serials = [item for item in items if device(item).serial == spec]
    if serials:
        return serials
    wanted = spec.strip().casefold()
    models = [(item, (device(item).model or "").casefold()) for item in items]
    return [item for item, model in models if model and model == wanted] or \
        [item for item, model in models if wanted and wanted in model]


def _fix_hint(devices: list[Device]) -> str:
    states = {d.state for d in devices}
    hints = [UNAUTHORIZED_FIX] if "unauthorized" in states else []
    if states - {"device", "unauthorized"}:
        hints.append(OFFLINE_FIX)
    return "; ".join(hints)
